"""RDKit embedding below the models: ETKDGv3 conformers (optionally MMFF94-relaxed), used by the RDKit
baseline, the reference-set builder, and the RDKit+MMFF starts that ConfOpt refines."""
from __future__ import annotations

import time

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem


def with_conformers(mol: Chem.Mol, coords) -> Chem.Mol:
    """A copy of ``mol`` carrying the conformers coords (C, N, 3), in its atom order."""
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    for xyz in coords:
        conf = Chem.Conformer(out.GetNumAtoms())
        conf.SetPositions(xyz)
        out.AddConformer(conf, assignId=True)
    return out


def etkdg(mol: Chem.Mol, n_conformers: int, seed: int = 0, mmff: bool = False,
          timeout: float | None = None) -> Chem.Mol:
    """A copy of mol with explicit hydrogens and up to n_conformers ETKDGv3 conformers; ``timeout``
    (seconds) bounds the embedding, the random-coordinates fallback included (strained or crowded
    molecules, e.g. hexa-tert-butylbenzene, can take many minutes); RuntimeError when none came."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if n_conformers < 1:
        raise ValueError(f"n_conformers must be >= 1, got {n_conformers}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    # RDKit embeds every conformer identically when randomSeed == 0 (seen with 2026.09): shift by 1.
    params.randomSeed = seed + 1
    start = time.perf_counter()
    if timeout:
        params.timeout = max(1, int(round(timeout)))  # RDKit takes whole seconds
    # a timed-out embedding can return ids without conformers: count what the molecule holds
    AllChem.EmbedMultipleConfs(mol, n_conformers, params)
    left = None if not timeout else timeout - (time.perf_counter() - start)
    if mol.GetNumConformers() == 0 and (left is None or left >= 1):
        params.useRandomCoords = True  # ETKDG's documented fallback for hard-to-embed molecules
        if left is not None:
            params.timeout = int(left)  # the fallback gets what is left of the budget
        AllChem.EmbedMultipleConfs(mol, n_conformers, params)
    if mol.GetNumConformers() == 0:
        within = f" within {timeout:g} s" if timeout else ""
        raise RuntimeError(f"RDKit could not embed {Chem.MolToSmiles(Chem.RemoveHs(mol))}{within}")
    if mmff:
        _mmff_relax_conformers(mol)
    return mol


def _mmff_relax_conformers(mh: Chem.Mol) -> None:
    """MMFF94-optimize every conformer of mh (explicit H) in place; nothing where MMFF94 has no
    parameters for the molecule."""
    if AllChem.MMFFHasAllMoleculeParams(mh):
        AllChem.MMFFOptimizeMoleculeConfs(mh)


def rdkit_mmff_starts(mol: Chem.Mol, count: int, seed: int, timeout: float | None = None,
                      mmff: bool = True) -> np.ndarray:
    """(count, N, 3) float64 ETKDG + MMFF94 heavy-atom conformers of ``mol`` in its heavy-atom order
    (ConfOpt's optimization-setting starts; with mmff=False the ETKDG conformers themselves, its
    generation setting's RDKit init; conformers repeat when ETKDG returns fewer than count)."""
    return _heavy_positions(etkdg(Chem.RemoveHs(mol), count, seed=seed, mmff=mmff, timeout=timeout), count)


def etkdg_starts_and_minima(mol: Chem.Mol, count: int, seed: int, timeout: float | None = None) -> tuple:
    """(starts, minima), each (count, N, 3) float64 in ``mol``'s heavy-atom order: the ETKDG
    conformers of rdkit_mmff_starts(..., mmff=False) and, row for row, the MMFF94 minimum each one
    relaxes to (the minimum of its basin; the start itself where MMFF94 has no parameters)."""
    mh = etkdg(Chem.RemoveHs(mol), count, seed=seed, mmff=False, timeout=timeout)
    starts = _heavy_positions(mh, count)
    _mmff_relax_conformers(mh)  # the relaxation etkdg(..., mmff=True) applies
    return starts, _heavy_positions(mh, count)


def _heavy_positions(mh: Chem.Mol, count: int) -> np.ndarray:
    """(count, N, 3) heavy-atom positions of mh's conformers, repeated in turn when it holds fewer."""
    heavy = [a.GetIdx() for a in mh.GetAtoms() if a.GetAtomicNum() != 1]
    confs = [c.GetPositions()[heavy] for c in mh.GetConformers()]
    return np.stack([confs[k % len(confs)] for k in range(count)])


def mmff_relaxed(mol: Chem.Mol, coords: np.ndarray, max_iters: int = 200) -> np.ndarray:
    """(N, 3) float64 heavy-atom positions after MMFF94 relaxation from ``coords`` (N, 3), the
    heavy-atom conformer of ``mol`` (hydrogens are placed on it first): the MMFF minimum in the
    basin of a given conformer, what ETKDG+MMFF returns when it lands there. RuntimeError when
    MMFF94 has no parameters for the molecule."""
    heavy = Chem.RemoveHs(mol)
    if coords.shape != (heavy.GetNumAtoms(), 3):
        raise ValueError(f"coords must be ({heavy.GetNumAtoms()}, 3), got {coords.shape}")
    mh = Chem.AddHs(with_conformers(heavy, np.asarray(coords, dtype=np.float64)[None]), addCoords=True)  # hydrogens follow the heavy atoms; heavy indices unchanged
    if not AllChem.MMFFHasAllMoleculeParams(mh):
        raise RuntimeError(f"MMFF94 has no parameters for {Chem.MolToSmiles(heavy)}")
    AllChem.MMFFOptimizeMolecule(mh, maxIters=max_iters)
    return mh.GetConformer().GetPositions()[:heavy.GetNumAtoms()]
