"""The optimization setting's evaluation (ConfOpt's Table 1): symmetric heavy-atom RMSD to the
closest reference before and after a model refines RDKit+MMFF conformers.

Table 1's statistics: for each start k (of S per molecule), the mean and the median over molecules
of the RMSD; reported as the mean +- standard deviation of those S values ("+- over the starts").
RMSD has GetBestRMS semantics (symmetric over the heavy-atom automorphisms, aligned, no
reflection); ``mirror=True`` adds the released code's variant, the minimum with a z-mirrored copy.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from rdkit import Chem, RDLogger

import conformer_kernels as ck
from conformers._io import write_json
from conformers.data.embedding import rdkit_mmff_starts
from conformers.defaults import START_TIMEOUT
from conformers.models.base import with_conformers



def _starts_task(task):
    binary, count, seed, timeout = task
    RDLogger.DisableLog("rdApp.*")
    try:
        return rdkit_mmff_starts(Chem.Mol(binary), count, seed, timeout=timeout)
    except (RuntimeError, ValueError) as exc:
        return exc


def rdkit_mmff_start_sets(mols: list[Chem.Mol], count: int, seed: int, workers: int = 1,
                          timeout: float | None = START_TIMEOUT) -> list:
    """Per molecule: (count, N, 3) ETKDG+MMFF heavy-atom starts (seed + the molecule's position), or
    the exception RDKit raised (also when an embedding attempt passes ``timeout`` seconds).
    Parallel over molecules with ``workers`` processes."""
    tasks = [(m.ToBinary(), count, seed + k, timeout) for k, m in enumerate(mols)]
    if workers <= 1:
        return [_starts_task(t) for t in tasks]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_starts_task, tasks, chunksize=16))


def cached_start_sets(path: str | None, names: list[str], mols: list, count: int, seed: int, workers: int,
                      timeout: float | None) -> list:
    """rdkit_mmff_start_sets, kept in ``path`` (.npz + .json) when given: a later evaluation of the
    same molecules, count and seed (another checkpoint: a learning curve) reuses the same starts."""
    import json

    key = {"names": names, "count": count, "seed": seed}
    if path and os.path.isfile(path + ".json") and os.path.isfile(path + ".npz"):
        with open(path + ".json") as handle:
            meta = json.load(handle)
        if {k: meta.get(k) for k in key} == key:
            data = np.load(path + ".npz")
            coords, ptr = data["coords"], data["ptr"]
            failed = meta["failed"]
            return [RuntimeError(failed[str(k)]) if str(k) in failed else
                    coords[ptr[k]:ptr[k + 1]].reshape(count, -1, 3) for k in range(len(names))]
    sets = rdkit_mmff_start_sets(mols, count, seed, workers, timeout)
    if path:
        parts = [np.zeros((0, 3)) if isinstance(s, Exception) else s.reshape(-1, 3) for s in sets]
        ptr = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        np.savez(path + ".npz", coords=np.concatenate(parts) if parts else np.zeros((0, 3)), ptr=ptr)
        write_json(path + ".json", {**key, "failed": {str(k): str(s) for k, s in enumerate(sets)
                                                      if isinstance(s, Exception)}})
    return sets


def _best_rmsd(X: np.ndarray, refs: torch.Tensor, perms: torch.Tensor, mirror: bool):
    """(S,) RMSD of each conformer to its closest reference, and with ``mirror`` also the (S,)
    minimum with z-mirrored copies (else None); the plain matrix is computed once for both."""
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64))
    best = ck.rmsd_matrix(x, refs, perms).min(1).values
    if not mirror:
        return best.numpy(), None
    flipped = ck.rmsd_matrix(x * x.new_tensor([1.0, 1.0, -1.0]), refs, perms).min(1).values
    return best.numpy(), torch.minimum(best, flipped).numpy()


def table1_statistics(rmsd: np.ndarray) -> dict:
    """(M molecules, S starts) RMSD -> Table 1's mean and median over molecules, +- over the S starts."""
    means, medians = rmsd.mean(0), np.median(rmsd, 0)
    return {"mean": float(means.mean()), "mean_std_over_starts": float(means.std()),
            "median": float(medians.mean()), "median_std_over_starts": float(medians.std()),
            "mean_all": float(rmsd.mean()), "median_all": float(np.median(rmsd))}


def optimization_rmsd(model, cache_dir: str, split: str = "test", starts: int = 10, seed: int = 0,
                      ratio: float = 0.5, limit: int | None = None, workers: int = 1, mirror: bool = False,
                      chunk: int = 256, progress: bool = False, starts_cache: str | None = None,
                      timeout: float | None = START_TIMEOUT) -> dict:
    """Per molecule of ``split``: ``starts`` ETKDG+MMFF conformers refined by ``model.optimize``
    (molecules batched ``chunk`` at a time); RMSD of each start and each result to the closest
    reference among those with Boltzmann weight >= ratio x the best (QM9: its one DFT conformer).
    Molecules RDKit cannot embed, or the model refuses, are counted in ``not_evaluated``.
    ``starts_cache``: a file prefix where the starts are kept and reused (cached_start_sets)."""
    from tqdm import tqdm

    from conformers.data import MoleculeCache, Selection
    from conformers.data.split import split_members

    if starts < 1:
        raise ValueError(f"starts must be >= 1, got {starts}")
    cache = MoleculeCache(cache_dir)
    names = split_members(os.path.join(cache_dir, "split.json"), split)[:limit]
    if not names:
        raise ValueError(f"split {split!r} of {cache_dir} holds no molecules")
    index = [cache.index_of(s) for s in names]
    mols = [cache.rdkit_mol(i, with_conformers=False) for i in index]
    t0 = time.perf_counter()
    start_sets = cached_start_sets(starts_cache, [cache.names[i] for i in index], mols, starts, seed, workers, timeout)
    start_seconds = time.perf_counter() - t0
    rows, failures, model_seconds = [], [], 0.0
    ok = [k for k, s in enumerate(start_sets) if not isinstance(s, Exception)]
    failures += [{"molecule": cache.names[index[k]], "reason": "rdkit_embedding_failed", "detail": str(start_sets[k])}
                 for k, s in enumerate(start_sets) if isinstance(s, Exception)]
    bar = tqdm(total=len(ok), unit="mol", desc="evaluate-optimization", disable=not progress)
    for c in range(0, len(ok), chunk):
        part = ok[c:c + chunk]
        t = time.perf_counter()
        refined = model.optimize([with_conformers(mols[k], start_sets[k]) for k in part])
        model_seconds += time.perf_counter() - t
        for k, out in zip(part, refined):
            name = cache.names[index[k]]
            if isinstance(out, Exception):
                failures.append({"molecule": name, "reason": "model_failed", "detail": str(out)})
                continue
            item = cache.molecule(index[k])
            keep = Selection("relative", ratio=ratio).count(item["weights"])
            refs = torch.from_numpy(np.asarray(item["positions"][:keep], dtype=np.float64))
            perms = ck.automorphisms(mols[k])
            after = np.stack([c_.GetPositions() for c_ in Chem.RemoveHs(out).GetConformers()])
            start_rmsd, start_mirror = _best_rmsd(start_sets[k], refs, perms, mirror)
            after_rmsd, after_mirror = _best_rmsd(after, refs, perms, mirror)
            rows.append({"molecule": name, "smiles": names[k], "n_references": int(keep),
                         "rmsd_start": start_rmsd.tolist(), "rmsd_optimized": after_rmsd.tolist()})
            if mirror:
                rows[-1].update(rmsd_start_mirror=start_mirror.tolist(), rmsd_optimized_mirror=after_mirror.tolist())
        bar.update(len(part))
    bar.close()
    if not rows:
        raise ValueError(f"no molecule of split {split!r} could be evaluated ({len(failures)} failed)")
    before = np.asarray([r["rmsd_start"] for r in rows])
    after = np.asarray([r["rmsd_optimized"] for r in rows])
    report = {"model": model.name, "config": getattr(model, "config", {}), "split": split, "cache": cache_dir,
              "molecules": len(rows), "starts": starts, "seed": seed, "conformers": int(before.size),
              "rmsd": "GetBestRMS semantics: symmetric heavy-atom RMSD, aligned, no reflection",
              "rdkit_mmff": table1_statistics(before), "optimized": table1_statistics(after),
              "share_improved": float((after < before).mean()),
              "seconds_rdkit_mmff_per_molecule": start_seconds / len(names), "workers": workers,
              "seconds_model_per_molecule": model_seconds / len(rows),
              "not_evaluated": failures, "per_molecule": rows}
    if mirror:
        report["mirror_variant"] = {
            "note": "the released code's variant: minimum with a z-mirrored copy (allows reflection)",
            "rdkit_mmff": table1_statistics(np.asarray([r["rmsd_start_mirror"] for r in rows])),
            "optimized": table1_statistics(np.asarray([r["rmsd_optimized_mirror"] for r in rows]))}
    return report


def write_optimization_report(report: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "optimization.json"), report)
