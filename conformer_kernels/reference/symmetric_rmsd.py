"""Brute force over the permutation table: permute, align by SVD, keep the minimum."""
from __future__ import annotations

import torch

from .kabsch import kabsch_svd


def permuted_sse(X: torch.Tensor, Y: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """(..., K): aligned sse of X[..., perms[k], :] against Y for every row k (X, Y: (..., N, 3))."""
    permuted = X[..., perms, :]  # (..., K, N, 3)
    return kabsch_svd(permuted, Y.unsqueeze(-3).expand_as(permuted))[2]


def _table(perms, n):
    return perms if perms.shape[0] else torch.arange(n, device=perms.device)[None]


def rmsd_matrix_sse(X, Y, perms):
    """(G, R) minimal sse and argmin row, the spec of the rmsd_matrix kernel."""
    G, R, n = X.shape[0], Y.shape[0], X.shape[1]
    if G == 0 or R == 0:
        return X.new_zeros((G, R)), torch.zeros((G, R), dtype=torch.int64, device=X.device)
    sse = permuted_sse(X[:, None].expand(G, R, n, 3), Y[None].expand(G, R, n, 3), _table(perms, n))
    value, best = sse.min(-1)
    return value.clamp_min(0), best


def symmetric_sse_ragged(P, Q, ptr, flat, offset, count):
    """Ragged pairs with per-pair tables: the spec of the symmetric_sse kernel."""
    sse, best = [], []
    bounds = ptr.tolist()
    for b, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
        n, k = end - start, int(count[b])
        o = int(offset[b])
        table = _table(flat[o:o + k * n].reshape(k, n), n)
        if n == 0:
            sse.append(P.new_zeros(())); best.append(torch.zeros((), dtype=torch.int64, device=P.device))
            continue
        value, arg = permuted_sse(P[start:end], Q[start:end], table).min(-1)
        sse.append(value.clamp_min(0)); best.append(arg)
    if not sse:
        return P.new_zeros((0,)), torch.zeros((0,), dtype=torch.int64, device=P.device)
    return torch.stack(sse), torch.stack(best)
