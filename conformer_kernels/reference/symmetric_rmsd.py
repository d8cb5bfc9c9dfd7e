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


def _pair_tables(P, Q, perms, ptr, perm_ptr):
    """[(p (n, 3), q (n, 3), table (K, n))] per pair of the op's input forms: dense (B, N, 3) or one
    (N, 3) pair with one (K, N) table; ragged (total, 3) with ptr and a list of tables or a flat
    table with perm_ptr."""
    if ptr is None:
        n = P.shape[-2]
        perms = torch.as_tensor(perms, dtype=torch.int64, device=P.device)
        table = _table(perms.reshape(-1, n) if n else perms.new_zeros((0, 0)), n)
        pairs = P.shape[:-2].numel()
        return [(p, q, table) for p, q in zip(P.reshape(pairs, n, 3), Q.reshape(pairs, n, 3))]
    bounds = ptr.tolist()
    out = []
    for b, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
        n = end - start
        if isinstance(perms, (list, tuple)):
            table = torch.as_tensor(perms[b], dtype=torch.int64, device=P.device).reshape(-1, n)
        else:
            table = perms[int(perm_ptr[b]):int(perm_ptr[b + 1])].reshape(-1, n) if n else perms.new_zeros((0, 0))
        out.append((P[start:end], Q[start:end], _table(table, n)))
    return out


def _best_rows(pairs):
    """(sse (B,), best row (B,)) by brute force: every table row permuted, SVD-aligned."""
    sse, best = [], []
    for p, q, table in pairs:
        if p.shape[0] == 0:
            sse.append(p.new_zeros(()))
            best.append(torch.zeros((), dtype=torch.int64, device=p.device))
            continue
        value, arg = permuted_sse(p, q, table).min(-1)
        sse.append(value.clamp_min(0))
        best.append(arg)
    if not sse:
        return torch.zeros((0,)), torch.zeros((0,), dtype=torch.int64)
    return torch.stack(sse), torch.stack(best)


def symmetric_rmsd(P, Q, perms, ptr=None, perm_ptr=None, *, return_best: bool = False):
    """The spec of ck.symmetric_rmsd, same arguments (without the capped-symmetry fallback
    ``graph``): per pair, the minimum over its table's rows of the SVD-aligned RMSD (Angstrom) of
    the permuted P to Q; (B,) or a scalar for one (N, 3) pair, and the best rows if asked.
    Differentiable through the SVD at the best row."""
    pairs = _pair_tables(P, Q, perms, ptr, perm_ptr)
    if not pairs:
        empty = P.new_zeros((0,))
        return (empty, torch.zeros((0,), dtype=torch.int64, device=P.device)) if return_best else empty
    with torch.no_grad():
        _, best = _best_rows(pairs)
    rmsd = torch.stack([(kabsch_svd(p[table[k]], q)[2].clamp_min(0) / max(p.shape[0], 1)).sqrt()
                        if p.shape[0] else p.new_zeros(()) for (p, q, table), k in zip(pairs, best.tolist())])
    shape = P.shape[:-2] if ptr is None else (len(pairs),)
    rmsd, best = rmsd.reshape(shape), best.reshape(shape)
    return (rmsd, best) if return_best else rmsd


def rtp_loss(pred, ref, perms, ptr=None, perm_ptr=None, *, reduction: str = "none", metric: str = "sse"):
    """The spec of ck.rtp_loss, same arguments: per pair, at the best permutation and rigid motion
    (found without gradient), the aligned squared error (Angstrom^2, metric "sse") or the mean atom
    distance (Angstrom, "mean_distance", the rigid motion held fixed); reduced by none | sum | mean."""
    pairs = _pair_tables(pred, ref, perms, ptr, perm_ptr)
    with torch.no_grad():
        _, best = _best_rows(pairs)
    losses = []
    for (p, q, table), k in zip(pairs, best.tolist()):
        permuted = p[table[k]]
        if metric == "sse":
            losses.append(kabsch_svd(permuted, q)[2])
            continue
        with torch.no_grad():
            R, t, _ = kabsch_svd(permuted.detach(), q.detach())
        losses.append(((permuted @ R.T + t - q).square().sum(1) + torch.finfo(p.dtype).tiny).sqrt().mean())
    loss = (torch.stack(losses) if losses else pred.new_zeros((0,))).reshape(
        pred.shape[:-2] if ptr is None else (len(pairs),))
    return loss if reduction == "none" else (loss.sum() if reduction == "sum" else loss.mean())


def rmsd_matrix(X, Y, perms=None, *, return_best: bool = False):
    """The spec of ck.rmsd_matrix, same arguments (without ``graph``): (G, R) aligned RMSD
    (Angstrom) of every generated X[g] to every reference Y[r], minimised over the rows of perms,
    and the (G, R) best rows if asked."""
    n = X.shape[1]
    table = torch.zeros((0, n), dtype=torch.int64, device=X.device) if perms is None else perms
    sse, best = rmsd_matrix_sse(X, Y, table)
    rmsd = (sse / max(n, 1)).sqrt()
    return (rmsd, best) if return_best else rmsd


def rmsd_matrices(Xs, Ys, perms=None):
    """The spec of ck.rmsd_matrices, same arguments: rmsd_matrix of each molecule in turn."""
    perms = [None] * len(Xs) if perms is None else perms
    return [rmsd_matrix(X, Y, P) for X, Y, P in zip(Xs, Ys, perms)]
