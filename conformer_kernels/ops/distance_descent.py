"""ConfVAE's inner loop as one op: T steps of gradient descent on the distance-geometry energy,
differentiable through all of them. See csrc/distance_descent for the math."""
from __future__ import annotations

import torch

from .. import _backend, _checks
from ..reference import distance_descent as reference
from ._edges import EdgeCSR, as_csr


class _DistanceDescent(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x0, d, csr, steps, lr):
        states = _backend.launch(_backend._C().distance_descent_forward, x0.device, x0, d, csr.row_ptr, csr.src,
                                 steps, lr)
        ctx.save_for_backward(states, d)
        ctx.csr, ctx.lr = csr, lr
        return states[-1].clone()

    @staticmethod
    def backward(ctx, grad_out):
        states, d = ctx.saved_tensors
        csr = ctx.csr
        grad_x, grad_d = _backend.launch(_backend._C().distance_descent_backward, d.device, states, d, csr.row_ptr,
                                         csr.src, *csr.by_source(), grad_out.contiguous(), ctx.lr)
        return grad_x, grad_d, None, None, None


@_checks.autocast_float32
def distance_descent(x0: torch.Tensor, index: torch.Tensor | EdgeCSR, d: torch.Tensor, steps: int,
                     lr: float) -> torch.Tensor:
    """x_T after T = ``steps`` steps of x <- x - lr grad_x H(x, d), H = sum over pairs (|x_u - x_v| - d_uv)^2.

    The step's gradient is g_i = sum over edges (i, j) of 2 (|x_i - x_j| - d_ij) (x_i - x_j) / |x_i - x_j|
    (list both directions of every pair, as the extended graph does). Differentiable in x0 and d
    through all T steps, exactly: the backward runs the steps in reverse with closed-form edge
    Hessians, one pass over the edges per step, keeping only each step's positions (T x N x 3) --
    no per-edge tensor, no autograd graph.

    Args:
        x0: (N, 3) start, float32/float64.
        index: (2, E) int64 edges (row 0 the atom moved, row 1 its partner) or an ``edge_csr``.
        d: (E,) target distances, x0's dtype and device.
        steps: T >= 0.
        lr: the step size.

    Returns:
        (N, 3) x_T.
    """
    x0 = _checks.floating("x0", x0)
    if x0.dim() != 2 or x0.shape[1] != 3:
        raise ValueError(f"x0 must have shape (N, 3), got {tuple(x0.shape)}")
    csr = as_csr(index, x0.shape[0], x0.device)
    if not torch.is_tensor(d) or d.shape != (csr.src.numel(),) or d.dtype != x0.dtype or d.device != x0.device:
        raise ValueError(f"d must be a ({csr.src.numel()},) tensor with x0's dtype and device (one distance per edge)")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps}")
    if _backend.reference_enabled():
        return reference.distance_descent(x0, csr.index, d, int(steps), float(lr))
    d_sorted = csr.to_csr_order(d)
    return _DistanceDescent.apply(x0.contiguous(), d_sorted.contiguous(), csr, int(steps), float(lr))
