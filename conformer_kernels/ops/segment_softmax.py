"""Fused segment-softmax attention: per destination atom and head, softmax over its incoming
edges' scores, then the weighted sum of the edge values (transformer / GATv2 aggregation)."""
from __future__ import annotations

import math

import torch

from .. import _backend, _checks
from ..reference import segment_softmax as reference
from ._edges import EdgeCSR, as_csr


class _SegmentSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, values, row_ptr):
        out, lse = _backend.launch(_backend._C().segment_softmax_forward, scores.device, scores, values, row_ptr)
        ctx.save_for_backward(scores, values, row_ptr, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        scores, values, row_ptr, out, lse = ctx.saved_tensors
        need_s, need_v = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gs, gv = _backend.launch(_backend._C().segment_softmax_backward, scores.device, scores, values, row_ptr, out,
                                 lse, grad_out.contiguous(), need_s, need_v)
        return (gs if need_s else None), (gv if need_v else None), None


@_checks.autocast_float32
def segment_softmax_aggregate(scores: torch.Tensor, values: torch.Tensor, index: torch.Tensor | EdgeCSR,
                              num_nodes: int):
    """out[i, h] = sum over edges e = (i, j) of softmax_{e into i}(scores[:, h])[e] * values[e, h].

    Args:
        scores: (E, H) attention logits; values: (E, H, D) messages (same dtype and device).
        index: (2, E) int64 edges, row 0 the destination i (only row 0 is read), or an ``edge_csr``.
        num_nodes: N, the number of destination atoms.

    Returns:
        (N, H, D); atoms without incoming edges get 0. Differentiable in scores and values; the
        (E, H) probabilities are never stored (backward recomputes them from a saved (N, H)
        log-sum-exp).
    """
    scores = _checks.floating("scores", scores)
    if scores.dim() == 1:
        scores = scores[:, None]
    if scores.dim() != 2:
        raise ValueError(f"scores must have shape (E, H), got {tuple(scores.shape)}")
    if not torch.is_tensor(values) or values.dim() != 3 or values.shape[:2] != scores.shape:
        raise ValueError(f"values must have shape (E, H, D) = ({scores.shape[0]}, {scores.shape[1]}, D)")
    if values.dtype != scores.dtype or values.device != scores.device:
        raise ValueError("values must have scores' dtype and device")
    csr = as_csr(index, int(num_nodes), scores.device)
    if csr.src.numel() != scores.shape[0]:
        raise ValueError(f"index has {csr.src.numel()} edges but scores has {scores.shape[0]}")
    if _backend.reference_enabled():
        return reference.segment_softmax_aggregate(scores, values, csr.index, int(num_nodes))
    scores, values = csr.to_csr_order(scores, values)
    return _SegmentSoftmax.apply(scores.contiguous(), values.contiguous(), csr.row_ptr)


class _SegmentAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, query, key, values, row_ptr, scale):
        out, lse = _backend.launch(_backend._C().segment_attention_forward, query.device, query, key, values, row_ptr,
                                   scale)
        ctx.save_for_backward(query, key, values, row_ptr, out, lse)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, grad_out):
        query, key, values, row_ptr, out, lse = ctx.saved_tensors
        need = ctx.needs_input_grad[:3]
        gq, gk, gv = _backend.launch(_backend._C().segment_attention_backward, query.device, query, key, values,
                                     row_ptr, ctx.scale, out, lse, grad_out.contiguous(), *need)
        return (gq if need[0] else None), (gk if need[1] else None), (gv if need[2] else None), None, None


@_checks.autocast_float32
def segment_attention(query: torch.Tensor, key: torch.Tensor, values: torch.Tensor, index: torch.Tensor | EdgeCSR,
                      scale: float | None = None):
    """Multi-head attention of every atom over its incoming edges, scores computed in the kernel.

    out[i, h] = sum over edges e = (i, j) of softmax_e(scale <query[i, h], key[e, h]>) values[e, h].

    Args:
        query: (N, H, C) per destination atom; key: (E, H, C) per edge and head, or (E, 1, C) shared
            by all heads; values: (E, H, D) per edge.
        index: (2, E) int64 edges, row 0 the destination (only row 0 is read), or an ``edge_csr``.
        scale: score scale, default 1/sqrt(C).

    Returns:
        (N, H, D). Differentiable in query, key and values; neither the (E, H) scores nor the
        (E, H, C) gathered queries are formed, forward or backward.
    """
    query = _checks.floating("query", query)
    if query.dim() != 3:
        raise ValueError(f"query must have shape (N, H, C), got {tuple(query.shape)}")
    N, H, C = query.shape
    if not torch.is_tensor(key) or key.dim() != 3 or key.shape[1] not in (1, H) or key.shape[2] != C:
        raise ValueError(f"key must have shape (E, {H}, {C}) or (E, 1, {C})")
    if not torch.is_tensor(values) or values.dim() != 3 or values.shape[:2] != (key.shape[0], H):
        raise ValueError(f"values must have shape ({key.shape[0]}, {H}, D)")
    for name, t in (("key", key), ("values", values)):
        if t.dtype != query.dtype or t.device != query.device:
            raise ValueError(f"{name} must have query's dtype and device")
    csr = as_csr(index, N, query.device)
    if csr.src.numel() != key.shape[0]:
        raise ValueError(f"index has {csr.src.numel()} edges but key has {key.shape[0]}")
    scale = float(scale) if scale is not None else 1.0 / math.sqrt(C)
    if _backend.reference_enabled():
        return reference.segment_attention(query, key, values, csr.index, scale)
    key, values = csr.to_csr_order(key, values)
    return _SegmentAttention.apply(query.contiguous(), key.contiguous(), values.contiguous(), csr.row_ptr, scale)
