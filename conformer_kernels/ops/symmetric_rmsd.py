"""Symmetry-aware aligned RMSD: min over atom permutations and rigid motions (no reflections)."""
from __future__ import annotations

import warnings

import torch

from .. import _backend, _checks
from ..reference import symmetric_rmsd as reference
from ._layout import as_pairs, check_finite
from .automorphisms import GuidedSearch, SymmetryCapWarning
from .kabsch import AlignedSSE, _rmsd_from_sse, aligned_squared_error, kabsch, safe_sqrt


def _perm_tables(perms, ptr, perm_ptr, n_atoms_dense, device):
    """(flat perms, perm_offset (B,), perm_count (B,)) for the kernel, validated."""
    B = ptr.numel() - 1
    if perm_ptr is None and not isinstance(perms, (list, tuple)):
        if n_atoms_dense is None:
            raise ValueError("ragged inputs need perms as a list of (P_b, N_b) tensors or perms with perm_ptr")
        table = _checks.permutations("perms", perms, n_atoms_dense, device)
        zeros = torch.zeros(B, dtype=torch.int64, device=device)
        return table.reshape(-1), zeros, torch.full((B,), table.shape[0], dtype=torch.int64, device=device)
    sizes = (ptr[1:] - ptr[:-1]).tolist()
    if isinstance(perms, (list, tuple)):
        if len(perms) != B:
            raise ValueError(f"perms must hold one table per pair ({B}), got {len(perms)}")
        tables = [_checks.permutations(f"perms[{b}]", t, n, device) for b, (t, n) in enumerate(zip(perms, sizes))]
    else:
        perm_ptr = _checks.offsets("perm_ptr", perm_ptr, perms.numel(), torch.device("cpu")).tolist()
        flat = torch.as_tensor(perms).reshape(-1)
        tables = []
        for b, n in enumerate(sizes):
            chunk = flat[perm_ptr[b]:perm_ptr[b + 1]]
            if n == 0 or chunk.numel() % n:
                raise ValueError(f"perms segment {b} has {chunk.numel()} entries, not a multiple of its {n} atoms")
            tables.append(_checks.permutations(f"perms segment {b}", chunk.reshape(-1, n), n, device))
    counts = torch.tensor([t.shape[0] for t in tables], dtype=torch.int64)
    lengths = torch.tensor([t.numel() for t in tables], dtype=torch.int64)
    offset = torch.cumsum(lengths, 0) - lengths
    flat = torch.cat([t.reshape(-1) for t in tables]) if tables else torch.zeros(0, dtype=torch.int64)
    return flat.to(device), offset.to(device), counts.to(device)


def _best_permutation(pairs, perms, perm_ptr):
    """Per pair: the sse-minimising permutation (as a gather index into pairs.P) and its row."""
    flat, offset, count = _perm_tables(perms, pairs.ptr, perm_ptr, pairs.n_atoms, pairs.P.device)
    with torch.no_grad():
        if _backend.reference_enabled():
            sse, best = reference.symmetric_sse_ragged(pairs.P, pairs.Q, pairs.ptr, flat, offset, count)
        else:
            sse, best = _backend.launch(_backend._C().symmetric_sse, pairs.P.device, pairs.P, pairs.Q, pairs.ptr,
                                        flat, offset, count)
    check_finite(pairs, sse)
    # Global gather index: atom i of pair b reads P[ptr[b] + perm_b[best_b][i]].
    sizes = pairs.ptr[1:] - pairs.ptr[:-1]
    seg = torch.repeat_interleave(torch.arange(pairs.n_pairs, device=pairs.P.device), sizes)
    local = torch.arange(pairs.P.shape[0], device=pairs.P.device) - pairs.ptr[seg]
    gather = pairs.ptr[seg] + flat[offset[seg] + best[seg] * sizes[seg] + local]
    return sse, best, gather


@_checks.autocast_float32
def symmetric_rmsd(P, Q, perms, ptr=None, perm_ptr=None, *, return_best: bool = False, graph=None):
    """Symmetry-aware aligned RMSD: min over the given atom permutations and all rotations and
    translations (no mirror images), what RDKit's GetBestRMS computes. Differentiable.

    Args:
        P, Q: (B, N, 3), (N, 3), or (total, 3) ragged with ``ptr``; Angstrom, float32/float64.
        perms: (K, N) int64 table shared by all pairs (from :func:`automorphisms`); for ragged
            inputs a list of B tables (K_b, N_b), or a flat tensor of concatenated tables with
            ``perm_ptr`` (B + 1,) offsets into it. P's atom ``perm[i]`` is matched to Q's atom i.
        return_best: also return the (B,) row of the best permutation in each pair's table.
        graph: the molecule (RDKit Mol, or plain graph) ``perms`` came from, for dense inputs: the
            fallback when ``perms`` was capped (``SymmetryCapWarning``). Each pair's minimum over
            all the molecule's automorphisms is then found by :func:`guided_sse` (exact unless its
            branch and bound stops at its step budget, which a SymmetryCapWarning reports), and the
            result is min(table, refined). Not differentiable through the refinement.

    Returns:
        (B,) RMSD in Angstrom (a scalar for one (N, 3) pair), and the best rows if asked.
    """
    pairs = as_pairs(P, Q, None, ptr)
    sse, best, gather = _best_permutation(pairs, perms, perm_ptr)
    if torch.is_grad_enabled() and (pairs.P.requires_grad or pairs.Q.requires_grad):
        sse = _aligned_sse(pairs.P[gather], pairs.Q, pairs.ptr)
    counts = (pairs.ptr[1:] - pairs.ptr[:-1]).to(pairs.P.dtype)
    if graph is not None:
        if pairs.ragged:
            raise ValueError("graph (the capped-symmetry fallback) is supported for dense (B, N, 3) inputs only")
        n = pairs.n_atoms
        start = gather.reshape(-1, n) - pairs.ptr[:-1, None]
        refined, exact = guided_sse(pairs.P.reshape(-1, n, 3), pairs.Q.reshape(-1, n, 3), graph, start)
        _warn_inexact(exact)
        sse = torch.minimum(sse, refined.to(sse))
    out = _rmsd_from_sse(sse, counts).reshape(pairs.batch_shape)
    return (out, best.reshape(pairs.batch_shape)) if return_best else out


def _aligned_sse(P, Q, ptr):
    if _backend.reference_enabled():
        from ..reference.kabsch import aligned_sse_ragged
        return aligned_sse_ragged(P, Q, None, ptr)[0]
    return AlignedSSE.apply(P.contiguous(), Q.contiguous(), None, ptr)[0]


@_checks.autocast_float32
def rtp_loss(pred, ref, perms, ptr=None, perm_ptr=None, *, reduction: str = "none", metric: str = "sse"):
    """DMCG's l_RTP: min over permutations sigma in ``perms`` and roto-translations rho of
    ||ref - rho(sigma(pred))||_F^2 (Angstrom^2), per pair; differentiable w.r.t. pred and ref.

    The minimising permutation and rotation are found without gradient (as in the paper); the loss
    is then the aligned squared error of the permuted prediction, whose gradient (rotation held at
    its optimum) is exact. Arguments as :func:`symmetric_rmsd`; ``reduction``: none | sum | mean.
    ``metric="mean_distance"``: the mean over atoms of |ref_i - rho(sigma(pred))_i| (Angstrom) at
    that optimum, with sigma, rho held fixed (no gradient through them): DMCG's released loss.
    """
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
    if metric not in ("sse", "mean_distance"):
        raise ValueError(f"metric must be 'sse' or 'mean_distance', got {metric!r}")
    pairs = as_pairs(pred, ref, None, ptr, names=("pred", "ref"))
    _, _, gather = _best_permutation(pairs, perms, perm_ptr)
    if metric == "sse":
        loss = _aligned_sse(pairs.P[gather], pairs.Q, pairs.ptr)
    else:
        loss = _aligned_mean_distance(pairs.P[gather], pairs.Q, pairs.ptr)
    loss = loss.reshape(pairs.batch_shape)
    return loss if reduction == "none" else (loss.sum() if reduction == "sum" else loss.mean())


def _aligned_mean_distance(P, Q, ptr):
    """Per pair: mean over atoms of |Q_i - (R P_i + t)| with the optimal R, t held constant."""
    from .kabsch import kabsch

    with torch.no_grad():
        R, t, _ = kabsch(P.detach(), Q.detach(), ptr=ptr)
    sizes = ptr[1:] - ptr[:-1]
    seg = torch.repeat_interleave(torch.arange(sizes.numel(), device=P.device), sizes)
    aligned = torch.einsum("aij,aj->ai", R[seg], P) + t[seg]
    distance = ((aligned - Q).square().sum(1) + torch.finfo(P.dtype).tiny).sqrt()
    return torch.zeros(sizes.numel(), dtype=P.dtype, device=P.device).index_add(0, seg, distance) / sizes.clamp_min(1)


def guided_sse(X: torch.Tensor, Y: torch.Tensor, graph, start: torch.Tensor, max_iters: int = 10,
               max_steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The capped-symmetry fallback, per pair (X[b], Y[b]) of (B, N, 3): the minimum aligned SSE
    (A^2) over all automorphisms of ``graph``, however many. From permutation start[b], Kabsch
    alignment alternates with a geometry-guided automorphism search (each atom takes the nearest
    aligned atom that keeps every bond, see GuidedSearch) until the permutation is stable (a few
    iterations); a branch and bound from the best of these (GuidedSearch.exact) then proves it
    optimal or finds the optimum. Returns (sse (B,), exact (B,) bool): exact is False where the
    branch and bound stopped at ``max_steps`` (default DEFAULT_BOUND_STEPS), whose sse is then an
    upper bound. Every candidate is a true automorphism: never below the exact value.
    """
    search = graph if isinstance(graph, GuidedSearch) else GuidedSearch(graph)
    if search.n_atoms != X.shape[1]:
        raise ValueError(f"graph has {search.n_atoms} atoms but the conformers have {X.shape[1]}")
    Xd, Yd = X.detach().double().cpu(), Y.detach().double().cpu()
    perm = start.cpu().clone()
    best = torch.full((X.shape[0],), float("inf"), dtype=torch.float64)
    best_perm = perm.clone()
    active = torch.ones(X.shape[0], dtype=torch.bool)
    for _ in range(max_iters + 1):
        permuted = torch.gather(Xd, 1, perm[..., None].expand(-1, -1, 3))
        R, t, _ = kabsch(permuted, Yd)
        sse = aligned_squared_error(permuted, Yd)
        better = sse < best
        best, best_perm[better] = torch.where(better, sse, best), perm[better]
        cost = torch.cdist(Yd, Xd @ R.transpose(1, 2) + t[:, None]) ** 2  # cost[b, v, w]: X's w onto Y's v
        if not active.any():
            break
        for b in torch.nonzero(active).flatten().tolist():
            found = search.best_for(cost[b])
            if found is None or torch.equal(found, perm[b]):
                active[b] = False
            else:
                perm[b] = found
    kwargs = {} if max_steps is None else {"max_steps": max_steps}
    _, sse, exact = search.exact(Xd, Yd, best_perm, cost, **kwargs)
    return torch.minimum(best, sse), exact


def _warn_inexact(exact: torch.Tensor) -> None:
    if not bool(exact.all()):
        warnings.warn(f"the branch and bound beyond the automorphism cap stopped at its step budget for "
                      f"{int((~exact).sum())} of {exact.numel()} pairs: their RMSDs are upper bounds",
                      SymmetryCapWarning, stacklevel=3)


@_checks.autocast_float32
def rmsd_matrix(X, Y, perms=None, *, return_best: bool = False, graph=None):
    """All-pairs aligned RMSD between two conformer sets of one molecule, the COV/MAT workload.

    Args:
        X: (G, N, 3) generated conformers; Y: (R, N, 3) reference conformers (Angstrom, same dtype
            and device). perms: optional (K, N) atom permutations (:func:`automorphisms`): entry
            (g, r) is then min over k of the aligned RMSD of X[g, perms[k]] to Y[r].
        return_best: also return the (G, R) int64 row of the minimising permutation.
        graph: the molecule ``perms`` came from, for the capped-symmetry fallback (see
            :func:`symmetric_rmsd`); costs a guided search per entry, so use it only when capped.

    Returns:
        (G, R) RMSD in Angstrom (not differentiable; use :func:`symmetric_rmsd` to train). No
        aligned or permuted copy is materialised: each entry costs K x N multiply-adds plus one
        4x4 eigenvalue per permutation.
    """
    X, Y = _checks.floating("X", X), _checks.floating("Y", Y)
    for name, t in (("X", X), ("Y", Y)):
        if t.dim() != 3 or t.shape[-1] != 3:
            raise ValueError(f"{name} must have shape (count, N, 3), got {tuple(t.shape)}")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must have the same number of atoms, got {X.shape[1]} and {Y.shape[1]}")
    if X.dtype != Y.dtype or X.device != Y.device:
        raise ValueError("X and Y must have the same dtype and device")
    n = X.shape[1]
    table = (torch.zeros((0, n), dtype=torch.int64, device=X.device) if perms is None
             else _checks.permutations("perms", perms, n, X.device))
    X, Y = X.detach().contiguous(), Y.detach().contiguous()
    if _backend.reference_enabled():
        _checks.finite("X", X)
        _checks.finite("Y", Y)
        sse, best = reference.rmsd_matrix_sse(X, Y, table)
        out = safe_sqrt(sse.clamp_min(0) / max(n, 1))
    else:  # finiteness checks and the square root in C++ loops (torch ops on small tensors cost more)
        (out,), (best,) = _backend.launch(_backend._C().rmsd_matrices, X.device, [X], [Y], [table], True)
    if graph is not None and X.shape[0] and Y.shape[0]:
        G, R = X.shape[0], Y.shape[0]
        rows = table[best.reshape(-1)] if table.shape[0] else torch.arange(n).expand(G * R, n)
        refined, exact = guided_sse(X.repeat_interleave(R, 0), Y.repeat(G, 1, 1), graph, rows)
        _warn_inexact(exact)
        out = torch.minimum(out, safe_sqrt(refined.reshape(G, R).to(out).clamp_min(0) / max(n, 1)))
    if (graph is not None or _backend.reference_enabled()) and out.numel() and not bool(torch.isfinite(out).all()):
        raise ValueError("X and Y give a non-finite result: coordinates too large")  # finite inputs, overflowing squares
    return (out, best) if return_best else out


def rmsd_matrices(Xs, Ys, perms=None) -> list:
    """rmsd_matrix of many molecules in one call: a whole test set's COV/MAT matrices.

    Args:
        Xs, Ys: sequences of M tensors, Xs[m] (G_m, N_m, 3) generated and Ys[m] (R_m, N_m, 3)
            reference conformers of molecule m (Angstrom; one dtype and device for all).
        perms: None, or a sequence of M (K_m, N_m) permutation tables (:func:`automorphisms`;
            None entries mean the identity alone).

    Returns:
        M tensors (G_m, R_m) of RMSD in Angstrom, equal to ``rmsd_matrix(Xs[m], Ys[m], perms[m])``.
        The inputs are checked and the lane groups of all molecules scheduled in one C++ call, so a
        test set of many small molecules pays Python's per-call cost once and keeps every core busy.
        Molecules past the automorphism cap need ``rmsd_matrix(..., graph=mol)`` instead.
    """
    Xs, Ys = list(Xs), list(Ys)
    perms = [None] * len(Xs) if perms is None else list(perms)
    if not len(Xs) == len(Ys) == len(perms):
        raise ValueError(f"Xs, Ys and perms must hold one entry per molecule, got {len(Xs)}, {len(Ys)} and {len(perms)}")
    for name, items in (("Xs", Xs), ("Ys", Ys)):
        for m, t in enumerate(items):
            _checks.floating(f"{name}[{m}]", t)
            if t.dim() != 3 or t.shape[-1] != 3:
                raise ValueError(f"{name}[{m}] must have shape (count, N, 3), got {tuple(t.shape)}")
    if not Xs:
        return []
    device, dtype = Xs[0].device, Xs[0].dtype
    tables = []
    for m, (X, Y, P) in enumerate(zip(Xs, Ys, perms)):
        if X.shape[1] != Y.shape[1] or X.dtype != dtype or Y.dtype != dtype or X.device != device or Y.device != device:
            raise ValueError(f"molecule {m}: Xs[{m}] {tuple(X.shape)} and Ys[{m}] {tuple(Y.shape)} must have the same "
                             f"atom count, and all tensors the dtype and device of Xs[0] ({dtype}, {device})")
        n = X.shape[1]
        tables.append(torch.zeros((0, n), dtype=torch.int64, device=device) if P is None
                      else _checks.permutations(f"perms[{m}]", P, n, device))
    Xs = [X.detach().contiguous() for X in Xs]
    Ys = [Y.detach().contiguous() for Y in Ys]
    if _backend.reference_enabled():
        return reference.rmsd_matrices(Xs, Ys, [t if t.shape[0] else None for t in tables])
    return _backend.launch(_backend._C().rmsd_matrices, device, Xs, Ys, tables, False)[0]  # errors name the molecule
