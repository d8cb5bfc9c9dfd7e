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


def _pairs(P, Q, weights, ptr):
    """(R, t, sse, weight sum) per pair, batch shape: dense (B, N, 3) or (N, 3), or ragged with ptr."""
    if ptr is not None:
        sse, R, pc, qc = aligned_sse_ragged(P, Q, weights, ptr)
        sizes = ptr[1:] - ptr[:-1]
        if weights is None:
            wsum = sizes.to(P.dtype)
        else:
            seg = torch.repeat_interleave(torch.arange(len(sizes), device=P.device), sizes)
            wsum = torch.zeros(len(sizes), dtype=P.dtype, device=P.device).index_add(0, seg, weights)
        return R, qc - torch.einsum("bij,bj->bi", R, pc), sse, wsum, (len(sizes),)
    R, t, sse = kabsch_svd(P, Q, None if weights is None else weights.expand(P.shape[:-1]))
    wsum = torch.full(P.shape[:-2], float(P.shape[-2]), dtype=P.dtype, device=P.device) if weights is None \
        else weights.expand(P.shape[:-1]).sum(-1)
    return R, t, sse, wsum, P.shape[:-2]


def _rmsd(sse, wsum):
    return (sse.clamp_min(0) / torch.where(wsum > 0, wsum, torch.ones_like(wsum))).sqrt()


def kabsch(P, Q, weights=None, ptr=None):
    """The spec of ck.kabsch, same arguments and outputs: (R, t, rmsd) superposing P onto Q
    (P @ R^T + t ~ Q), dense (B, N, 3), one (N, 3) pair or ragged (total, 3) with ``ptr``; by SVD."""
    R, t, sse, wsum, _ = _pairs(P, Q, weights, ptr)
    return R, t, _rmsd(sse, wsum)


def rmsd(P, Q, weights=None, ptr=None):
    """The spec of ck.rmsd, same arguments: aligned RMSD (Angstrom) per pair, by SVD Kabsch."""
    _, _, sse, wsum, _ = _pairs(P, Q, weights, ptr)
    return _rmsd(sse, wsum)


def aligned_squared_error(P, Q, weights=None, ptr=None):
    """The spec of ck.aligned_squared_error, same arguments: min over rigid motions of
    sum_i w_i |R p_i + t - q_i|^2 (Angstrom^2) per pair, by SVD Kabsch."""
    return _pairs(P, Q, weights, ptr)[2]
