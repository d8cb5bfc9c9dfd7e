"""The optimization setting's evaluation (ConfOpt's Table 1): symmetric heavy-atom RMSD to the
closest reference before and after a model refines RDKit+MMFF conformers."""
from __future__ import annotations

import os
import time

import numpy as np
import torch
from rdkit import Chem

import conformer_kernels as ck
from conformers._io import write_json


def optimization_rmsd(model, cache_dir: str, split: str = "test", starts: int = 5, seed: int = 0,
                      ratio: float = 0.5) -> dict:
    """Per held-out molecule: ``starts`` ETKDG+MMFF conformers refined by ``model.optimize``; RMSD
    (GetBestRMS semantics: symmetric, heavy atoms, no reflection) of each start and each result to
    the closest reference among those with Boltzmann weight >= ratio x the best."""
    from conformers.data import MoleculeCache, Selection, load_split
    from conformers.models.confopt.model import _with_conformers, rdkit_mmff_pool

    cache = MoleculeCache(cache_dir)
    names = load_split(os.path.join(cache_dir, "split.json"))[split]
    rows, seconds = [], 0.0
    for smiles in names:
        i = cache.index_of(smiles)
        item = cache.molecule(i)
        refs = torch.from_numpy(np.asarray(item["positions"][:Selection("relative", ratio=ratio).count(item["weights"])],
                                           dtype=np.float64))
        mol = cache.rdkit_mol(i, with_conformers=False)
        start = rdkit_mmff_pool(mol, starts, seed)
        t = time.perf_counter()
        refined = Chem.RemoveHs(model.optimize([_with_conformers(mol, start)])[0])
        seconds += time.perf_counter() - t
        after = np.stack([c.GetPositions() for c in refined.GetConformers()])
        perms = ck.automorphisms(mol)
        before_rmsd = ck.rmsd_matrix(torch.from_numpy(start), refs, perms).min(1).values.numpy()
        after_rmsd = ck.rmsd_matrix(torch.from_numpy(after), refs, perms).min(1).values.numpy()
        rows.append({"molecule": cache.names[i], "smiles": smiles, "n_references": len(refs),
                     "rmsd_start": before_rmsd.tolist(), "rmsd_optimized": after_rmsd.tolist()})
    start_all = np.concatenate([r["rmsd_start"] for r in rows])
    opt_all = np.concatenate([r["rmsd_optimized"] for r in rows])
    return {"model": model.name, "split": split, "molecules": len(rows), "conformers": int(len(start_all)),
            "rmsd_start_mean": float(start_all.mean()), "rmsd_start_median": float(np.median(start_all)),
            "rmsd_optimized_mean": float(opt_all.mean()), "rmsd_optimized_median": float(np.median(opt_all)),
            "share_improved": float((opt_all < start_all).mean()),
            "seconds_per_molecule": seconds / max(len(rows), 1), "per_molecule": rows}


def write_optimization_report(report: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "optimization.json"), report)
