"""RDKit embedding below the models: ETKDGv3 conformers (optionally MMFF94-relaxed), used by the RDKit
baseline, the reference-set builder, and the RDKit+MMFF starts that ConfOpt refines."""
from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem


def etkdg(mol: Chem.Mol, n_conformers: int, seed: int = 0, mmff: bool = False,
          timeout: float | None = None) -> Chem.Mol:
    """A copy of mol with explicit hydrogens and up to n_conformers ETKDGv3 conformers; ``timeout``
    (seconds) bounds each embedding attempt (strained stereo-specified cages can take minutes)."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if n_conformers < 1:
        raise ValueError(f"n_conformers must be >= 1, got {n_conformers}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    # RDKit embeds every conformer identically when randomSeed == 0 (seen with 2026.09): shift by 1.
    params.randomSeed = seed + 1
    if timeout:
        params.timeout = max(1, int(round(timeout)))  # RDKit takes whole seconds
    # a timed-out embedding can return ids without conformers: count what the molecule holds
    AllChem.EmbedMultipleConfs(mol, n_conformers, params)
    if mol.GetNumConformers() == 0:
        params.useRandomCoords = True  # ETKDG's documented fallback for hard-to-embed molecules
        AllChem.EmbedMultipleConfs(mol, n_conformers, params)
    if mol.GetNumConformers() == 0:
        raise RuntimeError(f"RDKit could not embed {Chem.MolToSmiles(Chem.RemoveHs(mol))}")
    if mmff and AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMoleculeConfs(mol)
    return mol


def rdkit_mmff_starts(mol: Chem.Mol, count: int, seed: int, timeout: float | None = None) -> np.ndarray:
    """(count, N, 3) float64 ETKDG + MMFF94 heavy-atom conformers of ``mol`` in its heavy-atom order
    (ConfOpt's optimization-setting starts; conformers repeat when ETKDG returns fewer than count)."""
    mh = etkdg(Chem.RemoveHs(mol), count, seed=seed, mmff=True, timeout=timeout)
    heavy = [a.GetIdx() for a in mh.GetAtoms() if a.GetAtomicNum() != 1]
    confs = [c.GetPositions()[heavy] for c in mh.GetConformers()]
    return np.stack([confs[k % len(confs)] for k in range(count)])
