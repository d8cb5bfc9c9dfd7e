"""out_i = sum over edges (i, j) of w_e (x_i - x_j) [/ |x_i - x_j|]: the equivariant update shared
by ConfOpt, ConfGF's chain rule, ConfVAE's distance geometry and EGNN."""
from __future__ import annotations

import torch

from .. import _backend, _checks
from ..reference import vector_aggregation as reference
from ._edges import EdgeCSR, as_csr


class _VectorAggregation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, row_ptr, src, normalize):
        ctx.save_for_backward(x, weight, row_ptr, src)
        ctx.normalize = normalize
        return _backend.launch(_backend._C().vector_aggregation_forward, x.device, x, weight, row_ptr, src, normalize)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, row_ptr, src = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gx, gw = _backend.launch(_backend._C().vector_aggregation_backward, x.device, x, weight, row_ptr, src,
                                 ctx.normalize, grad_out.contiguous(), need_x, need_w)
        return (gx if need_x else None), (gw if need_w else None), None, None, None


@_checks.autocast_float32
def vector_aggregation(x: torch.Tensor, index: torch.Tensor | EdgeCSR, weight: torch.Tensor, normalize: bool = False):
    """Sum per destination atom of a per-edge scalar times the edge vector.

    Args:
        x: (N, 3) coordinates (float32/float64, Angstrom).
        index: (2, E) int64 edges; row 0 the destination i, row 1 the source j; or an ``edge_csr``
            of them (checked and sorted once, for repeated calls).
        weight: (E,) per-edge scalars w_e, x's dtype and device.
        normalize: divide each edge vector by its length (unit vectors; 0 for coincident atoms).

    Returns:
        (N, 3): out_i = sum_{e = (i, j)} w_e (x_i - x_j) [/ d_ij]. Differentiable in x and weight;
        neither direction stores an (E, 3) tensor.
    """
    x = _checks.floating("x", x)
    if x.dim() != 2 or x.shape[1] != 3:
        raise ValueError(f"x must have shape (N, 3), got {tuple(x.shape)}")
    csr = as_csr(index, x.shape[0], x.device)
    if not torch.is_tensor(weight) or weight.shape != (csr.src.numel(),):
        raise ValueError(f"weight must have shape ({csr.src.numel()},), one scalar per edge")
    if weight.dtype != x.dtype or weight.device != x.device:
        raise ValueError("weight must have x's dtype and device")
    if _backend.reference_enabled():
        return reference.vector_aggregation(x, csr.index, weight, normalize)
    w = csr.to_csr_order(weight)
    return _VectorAggregation.apply(x.contiguous(), w.contiguous(), csr.row_ptr, csr.src, bool(normalize))
