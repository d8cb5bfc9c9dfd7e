"""Optimal superposition of point-set pairs by the quaternion (QCP) method, with backward."""
from __future__ import annotations

import torch

from .. import _backend, _checks
from ..reference import kabsch as reference
from ._layout import Pairs, as_pairs, check_finite


class AlignedSSE(torch.autograd.Function):
    """sse_b = min over rotations of sum_i w_i |R (p_i - pc) - (q_i - qc)|^2 for each pair b.

    Backward holds R at its optimum: by the envelope theorem that is the exact gradient wherever
    the optimal rotation is unique. Returns (sse, R, p_centroid, q_centroid); only sse is
    differentiable, and weights are treated as constants. Also returns t = qc - R pc, the
    translation of R p + t ~ q.
    """

    @staticmethod
    def forward(ctx, P, Q, weights, ptr):
        ext = _backend._C()
        R, pc, qc, sse, t = _backend.launch(ext.kabsch_forward, P.device, P, Q, weights, ptr)
        ctx.save_for_backward(P, Q, weights, ptr, R, pc, qc)
        ctx.mark_non_differentiable(R, pc, qc, t)
        return sse, R, pc, qc, t

    @staticmethod
    def backward(ctx, grad_sse, *_):
        return _aligned_sse_grads(ctx, *ctx.saved_tensors, grad_sse)


def _aligned_sse_grads(ctx, P, Q, weights, ptr, R, pc, qc, grad_sse):
    """Backward of (P, Q, weights, ptr) through the aligned sse, R held at its optimum."""
    need_p, need_q = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    gP, gQ = _backend.launch(_backend._C().aligned_sse_backward, P.device, P, Q, weights, ptr, R, pc, qc,
                             grad_sse.contiguous(), need_p, need_q)
    return (gP if need_p else None), (gQ if need_q else None), None, None


class AlignedRMSD(torch.autograd.Function):
    """rmsd_b = sqrt(sse_b / wsum_b) (AlignedSSE's sse; 0 below the rounding floor of an exact fit
    and for empty pairs), with R and t = qc - R pc; the RMSD, weight sums and finiteness come from one
    C++ loop, so a small batch pays one binding call rather than a dozen torch ops. Backward: the
    chain rule through AlignedSSE's envelope gradient, 0 where the RMSD is 0 (safe_sqrt's cone)."""

    @staticmethod
    def forward(ctx, P, Q, weights, ptr):
        ext = _backend._C()
        R, pc, qc, sse, t = _backend.launch(ext.kabsch_forward, P.device, P, Q, weights, ptr)
        if P.is_cuda:  # torch ops; the C++ loop is for the CPU's small batches
            wsum = _weight_sums(P, weights, ptr)
            rmsd = _rmsd_from_sse(sse, wsum)
            finite = bool(torch.isfinite(rmsd).all())
        else:
            rmsd, wsum, finite = ext.aligned_rmsd(sse, ptr, weights, _MSD_FLOOR[P.dtype])
        ctx.save_for_backward(P, Q, weights, ptr, R, pc, qc, rmsd, wsum)
        ctx.mark_non_differentiable(R, t)
        return rmsd, R, t, finite

    @staticmethod
    def backward(ctx, grad_rmsd, *_):
        P, Q, weights, ptr, R, pc, qc, rmsd, wsum = ctx.saved_tensors
        positive = rmsd > 0
        grad_sse = torch.where(positive, grad_rmsd / torch.where(positive, 2 * rmsd * wsum, torch.ones_like(rmsd)),
                               torch.zeros_like(rmsd))
        return _aligned_sse_grads(ctx, P, Q, weights, ptr, R, pc, qc, grad_sse)


def _rmsd(pairs: Pairs):
    """(rmsd, R, translation) per pair, on the kernels (one fused call) or the reference."""
    if _backend.reference_enabled():
        sse, R, t, wsum = _sse(pairs)
        return _rmsd_from_sse(sse, wsum), R, t
    rmsd_, R, t, finite = AlignedRMSD.apply(pairs.P, pairs.Q, pairs.weights, pairs.ptr)
    if not finite:
        check_finite(pairs, rmsd_)
    return rmsd_, R, t


def _sse(pairs: Pairs):
    """(sse, R, translation, weight_sum) per pair, on the kernels or the reference."""
    if _backend.reference_enabled():
        sse, R, pc, qc = reference.aligned_sse_ragged(pairs.P, pairs.Q, pairs.weights, pairs.ptr)
        t = qc - torch.einsum("bij,bj->bi", R, pc)
    else:
        sse, R, _, _, t = AlignedSSE.apply(pairs.P, pairs.Q, pairs.weights, pairs.ptr)
    check_finite(pairs, sse)
    return sse, R, t, _weight_sums(pairs.P, pairs.weights, pairs.ptr)


def _weight_sums(P, weights, ptr):
    """(B,) the weight sum of each pair (its atom count without weights), in P's dtype."""
    sizes = ptr[1:] - ptr[:-1]
    if weights is None:
        return sizes.to(P.dtype)
    seg = torch.repeat_interleave(torch.arange(sizes.numel(), device=P.device), sizes)
    return torch.zeros(sizes.numel(), dtype=P.dtype, device=P.device).index_add_(0, seg, weights)


# Mean squared deviations below these (Angstrom^2) are rounding noise of an exact superposition.
_MSD_FLOOR = {torch.float32: 1e-12, torch.float64: 1e-24}


def safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sqrt whose value and gradient are 0 at (rounding distance from) 0, instead of an infinite
    slope or a gradient pointing along rounding noise: RMSD is a norm, with a cone at 0. NaN stays
    NaN (an overflowed sum of squares must reach the callers' finiteness checks, not read as 0)."""
    positive = (x > _MSD_FLOOR[x.dtype]) | x.isnan()
    return torch.where(positive, torch.where(positive, x, torch.ones_like(x)).sqrt(), torch.zeros_like(x))


def _rmsd_from_sse(sse, wsum):
    return safe_sqrt(sse / torch.where(wsum > 0, wsum, torch.ones_like(wsum)))


@_checks.autocast_float32
def kabsch(P, Q, weights=None, ptr=None):
    """Optimal rotation, translation and aligned RMSD that superpose P onto Q.

    Args:
        P, Q: coordinates in Angstrom, float32 or float64, same shape: (B, N, 3) for B pairs of N
            atoms, (N, 3) for one pair, or (total, 3) ragged with ``ptr``.
        weights: optional non-negative per-atom weights, (N,) or (B, N) dense, (total,) ragged.
        ptr: optional (B + 1,) int64 CSR offsets: pair b owns rows ptr[b]:ptr[b+1].

    Returns:
        R: (B, 3, 3) rotations (proper, det +1; mirror images are not considered),
        t: (B, 3) translations, such that ``P @ R.transpose(-1, -2) + t[:, None] ~ Q``,
        rmsd: (B,) weighted aligned RMSD in Angstrom, differentiable w.r.t. P and Q.
        Unbatched (N, 3) inputs give unbatched outputs. A pair with no atoms or zero total weight
        has R = I, t = 0, rmsd = 0. Degenerate pairs (1-2 atoms, collinear, identical) get one of
        their optimal rotations.
    """
    pairs = as_pairs(P, Q, weights, ptr)
    rmsd_, R, t = _rmsd(pairs)
    shape = pairs.batch_shape
    return R.reshape(*shape, 3, 3), t.reshape(*shape, 3), rmsd_.reshape(shape)


@_checks.autocast_float32
def rmsd(P, Q, weights=None, ptr=None):
    """Aligned (superposed) RMSD in Angstrom, (B,) (or a scalar for one (N, 3) pair), differentiable.

    Same arguments as :func:`kabsch`. The gradient holds the optimal rotation fixed, which is exact
    where that rotation is unique; at RMSD 0 the gradient is 0.
    """
    pairs = as_pairs(P, Q, weights, ptr)
    return _rmsd(pairs)[0].reshape(pairs.batch_shape)


@_checks.autocast_float32
def aligned_squared_error(P, Q, weights=None, ptr=None):
    """min over rotations and translations of sum_i w_i |R p_i + t - q_i|^2, in Angstrom^2, (B,).

    The squared Frobenius distance after optimal superposition (DMCG's l_RT); differentiable, with
    a gradient that is smooth at 0. Same arguments as :func:`kabsch`.
    """
    pairs = as_pairs(P, Q, weights, ptr)
    return _sse(pairs)[0].reshape(pairs.batch_shape)
