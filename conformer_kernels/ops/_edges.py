"""Edge lists (2, E) -> CSR by destination, the layout the edge kernels read."""
from __future__ import annotations

from typing import NamedTuple

import torch

from .. import _checks


def check_edge_index(index: torch.Tensor, num_nodes: int, device) -> torch.Tensor:
    if not torch.is_tensor(index) or index.dtype != torch.int64:
        raise ValueError("index must be an int64 tensor of shape (2, E)")
    if index.dim() != 2 or index.shape[0] != 2:
        raise ValueError(f"index must have shape (2, E), got {tuple(index.shape)}")
    if index.device != device:
        raise ValueError(f"index must be on {device}, got {index.device}")
    _checks.on_device("index", index)
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= num_nodes):
        raise ValueError(f"index entries must lie in [0, {num_nodes}) (the number of atoms)")
    return index


def csr_by_destination(index: torch.Tensor, num_nodes: int):
    """(row_ptr (N+1,), src (E,), order or None): edges grouped by index[0]; ``order`` is the
    stable sort that groups them, None when index[0] is already sorted (the usual case: collate
    and full graphs emit edges destination-major)."""
    dst = index[0]
    order = None
    if dst.numel() > 1 and bool((dst[1:] < dst[:-1]).any()):
        order = torch.argsort(dst, stable=True)
        dst = dst[order]
    counts = torch.bincount(dst, minlength=num_nodes)
    row_ptr = torch.zeros(num_nodes + 1, dtype=torch.int64, device=index.device)
    row_ptr[1:] = torch.cumsum(counts, 0)
    src = (index[1] if order is None else index[1][order]).contiguous()
    return row_ptr, src, order


def group_by_key(key: torch.Tensor, rows: int):
    """(ptr (rows + 1,), entries): the positions of ``key`` grouped by value (stable), so that
    entries[ptr[r]:ptr[r + 1]] are where key == r: the layout of the backward kernels that sum
    per source atom or per shared row without atomics."""
    entries = torch.argsort(key, stable=True)
    ptr = torch.zeros(rows + 1, dtype=torch.int64, device=key.device)
    ptr[1:] = torch.cumsum(torch.bincount(key, minlength=rows), 0)
    return ptr, entries


def edges_by_source(row_ptr: torch.Tensor, src: torch.Tensor):
    """(dst (E,), col_ptr (N + 1,), col_edges (E,)) for a CSR edge list: each edge's destination,
    and the edges grouped by source -- what backward kernels that write per source atom read."""
    N = row_ptr.numel() - 1
    dst = torch.repeat_interleave(torch.arange(N, device=src.device), row_ptr.diff(), output_size=src.numel())
    return (dst, *group_by_key(src, N))


def as_csr(index, num_nodes: int, device=None) -> "EdgeCSR":
    """``index`` as an EdgeCSR for ``num_nodes`` nodes on ``device`` (None: its own): built (and
    checked) from a (2, E) tensor, or an EdgeCSR checked to match."""
    if not isinstance(index, EdgeCSR):
        return edge_csr(index, num_nodes, device)
    if index.num_nodes != num_nodes or (device is not None and index.row_ptr.device != device):
        raise ValueError(f"index was built for {index.num_nodes} nodes on {index.row_ptr.device}, the input has "
                         f"{num_nodes} on {device}")
    return index


class EdgeCSR(NamedTuple):
    """A validated edge list grouped by destination; build it once with ``edge_csr`` and pass it
    instead of ``index`` to ops called many times on one graph (a sampler's steps, a GNN's layers):
    what the ops derive from it (their backward passes' groupings) is then derived once too."""
    index: torch.Tensor          # (2, E) as given
    row_ptr: torch.Tensor        # (N + 1,) offsets of each destination's edges
    src: torch.Tensor            # (E,) sources in destination order
    order: torch.Tensor | None   # the stable sort of index[0] (None: it was sorted)
    num_nodes: int
    memo: dict                   # layouts derived from this graph, by the ops (see ``derived``)

    def derived(self, key, build, pinned=None):
        """build() once per key for this graph. ``pinned``: a tensor the result depends on, keyed
        by identity and kept alive with the result (so its id cannot be reused)."""
        key = (key, id(pinned))
        if key not in self.memo:
            self.memo[key] = (pinned, build())
        return self.memo[key][1]

    def by_source(self):
        """``edges_by_source`` of this graph, built once."""
        return self.derived("by_source", lambda: edges_by_source(self.row_ptr, self.src))

    def to_csr_order(self, *tensors):
        """Per-edge tensors (first dimension E) given in ``index``'s order, in CSR order."""
        return _permuted(self.order, tensors)

    def to_given_order(self, *tensors):
        """Per-edge tensors in CSR order, back in the order ``index`` was given."""
        inverse = None if self.order is None else self.derived("inverse_order", lambda: torch.empty_like(
            self.order).scatter_(0, self.order, torch.arange(self.order.numel(), device=self.order.device)))
        return _permuted(inverse, tensors)


def _permuted(rows, tensors):
    """tensors with their rows picked by ``rows`` (None: as they are); one tensor unpacked."""
    out = tensors if rows is None else tuple(t.index_select(0, rows) for t in tensors)
    return out if len(out) > 1 else out[0]


def edge_csr(index: torch.Tensor, num_nodes: int, device=None) -> EdgeCSR:
    """Checks ``index`` ((2, E) int64, rows destination i and source j, in [0, num_nodes), on
    ``device`` when given) and groups it by destination."""
    if device is None:
        device = index.device if torch.is_tensor(index) else None
    index = check_edge_index(index, num_nodes, device)
    return EdgeCSR(index, *csr_by_destination(index, num_nodes), num_nodes, {})
