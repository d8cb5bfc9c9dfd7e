"""GINE message passing, out_i = (1 + eps) h_i + sum_j relu(h_j + e_ij), without the (E, C)
messages. See csrc/gine_aggregate."""
from __future__ import annotations

import torch

from .. import _backend, _checks
from ..reference import gine_aggregate as reference
from ._edges import EdgeCSR, as_csr, group_by_key


class _GINEAggregate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, attr, csr, attr_row, eps):
        ctx.save_for_backward(h, attr)
        ctx.csr, ctx.attr_row, ctx.eps = csr, attr_row, eps
        return _backend.launch(_backend._C().gine_aggregate_forward, h.device, h, attr, csr.row_ptr, csr.src,
                               attr_row, eps)

    @staticmethod
    def backward(ctx, grad_out):
        h, attr = ctx.saved_tensors
        grad_h, grad_attr = _GINEAggregateBackward.apply(grad_out, h, attr, ctx.csr, ctx.attr_row, ctx.eps,
                                                         ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        return grad_h, grad_attr, None, None, None


def _attr_groups(csr, attr_row, rows: int):
    """(ptr, entries): the edges grouped by the attr row they read (built once per graph and row map)."""
    if attr_row is None:  # one edge per row
        return csr.derived("one_row_per_edge", lambda: _one_row_each(rows, csr.src.device))
    return csr.derived(("attr_groups", rows), lambda: group_by_key(attr_row, rows), pinned=attr_row)


def _one_row_each(rows: int, device):
    """(ptr 0..rows, entries 0..rows-1): group r holds entry r alone."""
    ptr = torch.arange(rows + 1, device=device)
    return ptr, ptr[:-1]


class _GINEAggregateBackward(torch.autograd.Function):
    """The backward as a function of grad_out, itself differentiable (CNF likelihoods with a
    Hutchinson or exact trace differentiate through a vector-Jacobian product)."""

    @staticmethod
    def forward(ctx, grad_out, h, attr, csr, attr_row, eps, need_h, need_attr):
        grad_out = grad_out.contiguous()
        dst, by_source_ptr, by_source = csr.by_source()
        grouped = lambda ptr, entries, self_weight: _backend.launch(
            _backend._C().gine_aggregate_grouped_grad, h.device, h, attr, grad_out, dst, csr.src, attr_row, ptr,
            entries, self_weight)
        grad_h = grouped(by_source_ptr, by_source, 1.0 + eps) if need_h else None
        grad_attr = None
        if need_attr:
            ptr, entries = _attr_groups(csr, attr_row, attr.shape[0])
            grad_attr = grouped(ptr, entries, 0.0)
        ctx.save_for_backward(h, attr)
        ctx.csr, ctx.attr_row, ctx.eps = csr, attr_row, eps
        return grad_h, grad_attr

    @staticmethod
    def backward(ctx, gg_h, gg_attr):
        # Linear in grad_out with ReLU's mask piecewise constant in h and attr: the derivative in
        # grad_out is the forward's tangent, zero (almost everywhere) in h and attr.
        h, attr = ctx.saved_tensors
        grad = _GINEAggregateTangent.apply(gg_h, gg_attr, h, attr, ctx.csr, ctx.attr_row, ctx.eps)
        return grad, None, None, None, None, None, None, None


class _GINEAggregateTangent(torch.autograd.Function):
    """The forward's tangent for tangents (dh, dattr), either None for zero: linear in them, and its
    derivative in them is the forward's backward (the same mask), so every order is a kernel and
    none stores an (E, C) tensor."""

    @staticmethod
    def forward(ctx, dh, dattr, h, attr, csr, attr_row, eps):
        ctx.save_for_backward(h, attr)
        ctx.csr, ctx.attr_row, ctx.eps = csr, attr_row, eps
        contiguous = lambda t: None if t is None else t.contiguous()
        return _backend.launch(_backend._C().gine_aggregate_tangent, h.device, h, attr, contiguous(dh),
                               contiguous(dattr), csr.row_ptr, csr.src, attr_row, eps)

    @staticmethod
    def backward(ctx, grad_out):
        h, attr = ctx.saved_tensors
        grad_dh, grad_dattr = _GINEAggregateBackward.apply(grad_out, h, attr, ctx.csr, ctx.attr_row, ctx.eps,
                                                           ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        return grad_dh, grad_dattr, None, None, None, None, None


@_checks.autocast_float32
def gine_aggregate(h: torch.Tensor, index: torch.Tensor | EdgeCSR, edge_attr: torch.Tensor,
                   edge_attr_index: torch.Tensor | None = None, eps: float = 0.0) -> torch.Tensor:
    """The neighbourhood sum of a GINE layer (PyG's GINEConv before its MLP), fused.

    Args:
        h: (N, C) node states, float32/float64.
        index: (2, E) int64 edges, row 0 the destination i, row 1 the source j; or an ``edge_csr``
            of them (checked and sorted once, for repeated calls).
        edge_attr: (E, C) edge features, or (R, C) rows read through ``edge_attr_index``.
        edge_attr_index: (E,) int64 row of ``edge_attr`` for each edge, or None. Lets edges share a
            row (both directions of a pair, a type's embedding) without an (E, C) copy.
        eps: GIN's epsilon, the weight (1 + eps) of the node's own state.

    Returns:
        (N, C): out_i = (1 + eps) h_i + sum over edges (i, j) of relu(h_j + edge_attr_e).
        Differentiable in h and edge_attr, to any order (the backward is linear in its incoming
        gradient, and its derivative is the forward's tangent, a kernel too); no order stores an
        (E, C) tensor.
    """
    h = _checks.floating("h", h)
    if h.dim() != 2:
        raise ValueError(f"h must have shape (N, C), got {tuple(h.shape)}")
    csr = as_csr(index, h.shape[0], h.device)
    E = csr.src.numel()
    if not torch.is_tensor(edge_attr) or edge_attr.dim() != 2 or edge_attr.shape[1] != h.shape[1]:
        raise ValueError(f"edge_attr must have shape (E or R, {h.shape[1]}), got "
                         f"{tuple(edge_attr.shape) if torch.is_tensor(edge_attr) else type(edge_attr).__name__}")
    if edge_attr.dtype != h.dtype or edge_attr.device != h.device:
        raise ValueError("edge_attr must have h's dtype and device")
    if edge_attr_index is None:
        if edge_attr.shape[0] != E:
            raise ValueError(f"edge_attr must have one row per edge ({E}) when edge_attr_index is None, "
                             f"got {edge_attr.shape[0]}")
    elif (not torch.is_tensor(edge_attr_index) or edge_attr_index.dtype != torch.int64
          or edge_attr_index.shape != (E,) or edge_attr_index.device != h.device):
        raise ValueError(f"edge_attr_index must be an int64 ({E},) tensor on h's device")
    elif E and (int(edge_attr_index.min()) < 0 or int(edge_attr_index.max()) >= edge_attr.shape[0]):
        raise ValueError(f"edge_attr_index must lie in [0, {edge_attr.shape[0]}) (the rows of edge_attr)")
    if _backend.reference_enabled():
        return reference.gine_aggregate(h, csr.index, edge_attr, edge_attr_index, eps)
    attr_row = _attr_rows(csr, edge_attr_index)
    return _GINEAggregate.apply(h.contiguous(), edge_attr.contiguous(), csr, attr_row, float(eps))


def _attr_rows(csr, edge_attr_index):
    """The attr row of each edge in CSR order, or None for edge e -> row e (sorted input)."""
    if edge_attr_index is None:
        return csr.order
    if csr.order is None:
        return edge_attr_index.contiguous()
    return csr.derived("attr_rows", lambda: edge_attr_index.index_select(0, csr.order), pinned=edge_attr_index)
