"""Kabsch superposition by SVD (the textbook algorithm), independent of the quaternion kernels."""
from __future__ import annotations

import torch


def kabsch_svd(P: torch.Tensor, Q: torch.Tensor, weights: torch.Tensor | None = None):
    """One or a batch of dense pairs (..., N, 3): returns (R, t, sse) with P @ R^T + t ~ Q.

    sse is sum_i w_i |R p_i + t - q_i|^2 computed from the aligned coordinates; differentiable by
    autograd through torch.linalg.svd (undefined at degenerate singular values).
    """
    w = torch.ones(P.shape[:-1], dtype=P.dtype, device=P.device) if weights is None else weights
    wsum = w.sum(-1, keepdim=True).clamp_min(torch.finfo(P.dtype).tiny)
    pc = (w[..., None] * P).sum(-2) / wsum
    qc = (w[..., None] * Q).sum(-2) / wsum
    a, b = P - pc[..., None, :], Q - qc[..., None, :]
    H = torch.einsum("...n,...ni,...nj->...ij", w, a, b)  # sum w p q^T
    U, _, Vh = torch.linalg.svd(H)
    V = Vh.transpose(-1, -2)
    d = torch.sign(torch.linalg.det(V @ U.transpose(-1, -2)))
    d = torch.where(d == 0, torch.ones_like(d), d)
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = V @ D @ U.transpose(-1, -2)
    t = qc - torch.einsum("...ij,...j->...i", R, pc)
    aligned = P @ R.transpose(-1, -2) + t[..., None, :]
    sse = (w * ((aligned - Q) ** 2).sum(-1)).sum(-1)
    return R, t, sse


def aligned_sse_ragged(P, Q, weights, ptr):
    """Ragged (total, 3) + ptr version with the kernels' outputs: (sse, R, p_centroid, q_centroid)."""
    sse, Rs, pcs, qcs = [], [], [], []
    bounds = ptr.tolist()
    for start, end in zip(bounds[:-1], bounds[1:]):
        p, q = P[start:end], Q[start:end]
        w = None if weights is None else weights[start:end]
        if end == start:
            eye = torch.eye(3, dtype=P.dtype, device=P.device)
            zero = torch.zeros(3, dtype=P.dtype, device=P.device)
            R, s, pc, qc = eye, P.new_zeros(()), zero, zero
        else:
            R, t, s = kabsch_svd(p, q, w)
            ww = torch.ones(end - start, dtype=P.dtype, device=P.device) if w is None else w
            pc = (ww[:, None] * p).sum(0) / ww.sum().clamp_min(torch.finfo(P.dtype).tiny)
            qc = t + R @ pc
        sse.append(s); Rs.append(R); pcs.append(pc); qcs.append(qc)
    if not sse:
        empty = P.new_zeros((0,))
        return empty, P.new_zeros((0, 3, 3)), P.new_zeros((0, 3)), P.new_zeros((0, 3))
    return torch.stack(sse), torch.stack(Rs), torch.stack(pcs), torch.stack(qcs)
