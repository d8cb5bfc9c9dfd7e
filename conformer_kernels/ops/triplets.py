"""Three-atom terms (ConfOpt's ThreeAtom model): the triplet index, its angle features and the
fused coordinate update out_i = sum_t f_t (x_i - x_j) + g_t (x_i - x_k)."""
from __future__ import annotations

import torch

from .. import _backend, _checks
from ..reference import triplets as reference
from ._edges import EdgeCSR, as_csr, csr_by_destination


def triplets(index: torch.Tensor | EdgeCSR, num_nodes: int, rotatable: torch.Tensor | None = None,
             return_edges: bool = False):
    """(3, T) int64 triplets (i, j, k): every pair of edges (i, j), (i, k) of the graph with j <= k,
    including j = k (the two-atom terms), sorted by i. With ``rotatable`` (E,) bool, only triplets
    with j = k or with (i, j) or (i, k) rotatable are kept (ConfOpt's trimming). With
    ``return_edges`` also the (2, T) ids of the edges (i, j) and (i, k) in ``index``.

    Not differentiable (an index). Runs on the index's device with vectorised tensor ops.
    """
    csr = as_csr(index, int(num_nodes))
    index, row_ptr, src = csr.index, csr.row_ptr, csr.src
    if rotatable is not None and (not torch.is_tensor(rotatable) or rotatable.shape != (index.shape[1],)):
        raise ValueError(f"rotatable must be a ({index.shape[1]},) bool tensor, one flag per edge")
    flag = None if rotatable is None else csr.to_csr_order(rotatable).bool()
    degree = torch.diff(row_ptr)
    pairs = degree * degree  # all (a, b) edge pairs of each row, filtered to a <= b below
    row = torch.repeat_interleave(torch.arange(int(num_nodes), device=index.device), pairs)
    local = torch.arange(int(pairs.sum()), device=index.device) - torch.repeat_interleave(
        torch.cumsum(pairs, 0) - pairs, pairs)
    d = degree[row]
    a, b = row_ptr[row] + local // d.clamp_min(1), row_ptr[row] + local % d.clamp_min(1)
    j, k = src[a], src[b]
    keep = j <= k
    if flag is not None:
        keep &= (j == k) | flag[a] | flag[b]
    out = torch.stack([row[keep], j[keep], k[keep]])
    if not return_edges:
        return out
    edges = torch.stack([a[keep], b[keep]])
    return out, (edges if csr.order is None else csr.order[edges])


class _TripletGeometry(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, row_ptr, j, k):
        ctx.save_for_backward(x, row_ptr, j, k)
        return tuple(_backend.launch(_backend._C().triplet_geometry_forward, x.device, x, row_ptr, j, k))

    @staticmethod
    def backward(ctx, g_dij, g_dik, g_dot):
        x, row_ptr, j, k = ctx.saved_tensors
        cont = lambda g: None if g is None else g.contiguous()
        gx = _backend.launch(_backend._C().triplet_geometry_backward, x.device, x, row_ptr, j, k, cont(g_dij),
                             cont(g_dik), cont(g_dot))
        return gx, None, None, None


class _TripletAggregation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, row_ptr, j, k, f, g):
        ctx.save_for_backward(x, row_ptr, j, k, f, g)
        return _backend.launch(_backend._C().triplet_aggregation_forward, x.device, x, row_ptr, j, k, f, g)

    @staticmethod
    def backward(ctx, grad_out):
        x, row_ptr, j, k, f, g = ctx.saved_tensors
        need_x, need_f, need_g = ctx.needs_input_grad[0], ctx.needs_input_grad[4], ctx.needs_input_grad[5]
        gx, gf, gg = _backend.launch(_backend._C().triplet_aggregation_backward, x.device, x, row_ptr, j, k, f, g,
                                     grad_out.contiguous(), need_x, need_f, need_g)
        return (gx if need_x else None), None, None, None, (gf if need_f else None), (gg if need_g else None)


def _triplet_layout(x, triplet_index):
    x = _checks.floating("x", x)
    if x.dim() != 2 or x.shape[1] != 3:
        raise ValueError(f"x must have shape (N, 3), got {tuple(x.shape)}")
    if not torch.is_tensor(triplet_index) or triplet_index.dtype != torch.int64 or triplet_index.dim() != 2 \
            or triplet_index.shape[0] != 3:
        raise ValueError("triplet_index must be an int64 tensor of shape (3, T)")
    n = x.shape[0]
    if triplet_index.numel() and (int(triplet_index.min()) < 0 or int(triplet_index.max()) >= n):
        raise ValueError(f"triplet_index entries must lie in [0, {n})")
    row_ptr, _, order = csr_by_destination(triplet_index[:2], n)
    if order is not None:
        raise ValueError("triplet_index must be sorted by i (as ck.triplets returns it)")
    return x.contiguous(), row_ptr, triplet_index[1].contiguous(), triplet_index[2].contiguous()


@_checks.autocast_float32
def triplet_geometry(x: torch.Tensor, triplet_index: torch.Tensor):
    """(d_ij, d_ik, <r_ij, r_ik>) per triplet, r_ij = x_i - x_j; differentiable in x (Angstrom, A^2)."""
    x, row_ptr, j, k = _triplet_layout(x, triplet_index)
    if _backend.reference_enabled():
        return reference.triplet_geometry(x, triplet_index)
    return _TripletGeometry.apply(x, row_ptr, j, k)


@_checks.autocast_float32
def triplet_aggregation(x: torch.Tensor, triplet_index: torch.Tensor, f: torch.Tensor, g: torch.Tensor):
    """out_i = sum over triplets (i, j, k) of f_t (x_i - x_j) + g_t (x_i - x_k): (N, 3),
    differentiable in x, f and g, without (T, 3) intermediates."""
    x, row_ptr, j, k = _triplet_layout(x, triplet_index)
    for name, t in (("f", f), ("g", g)):
        if not torch.is_tensor(t) or t.shape != (j.numel(),) or t.dtype != x.dtype or t.device != x.device:
            raise ValueError(f"{name} must be a ({j.numel()},) tensor with x's dtype and device")
    if _backend.reference_enabled():
        return reference.triplet_aggregation(x, triplet_index, f, g)
    return _TripletAggregation.apply(x, row_ptr, j, k, f.contiguous(), g.contiguous())
