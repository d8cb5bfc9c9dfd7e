"""Real molecules from the files RDKit ships, with ETKDG conformers (cached per session)."""
from __future__ import annotations

import functools
import os

import rdkit
import torch
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem

RDLogger.DisableLog("rdApp.*")
RDKIT_DIR = os.path.dirname(rdkit.__file__)
EGFR_SDF = os.path.join(RDKIT_DIR, "Contrib", "PBF", "testData", "egfr.sdf")
NCI_SMI = os.path.join(RDKIT_DIR, "Data", "NCI", "first_5K.smi")


@functools.lru_cache(maxsize=None)
def egfr_molecules():
    return tuple(Chem.RemoveHs(m) for m in Chem.SDMolSupplier(EGFR_SDF) if m is not None)


@functools.lru_cache(maxsize=None)
def nci_molecules(count: int = 1000):
    with open(NCI_SMI) as handle:
        smiles = [line.split()[0] for line in handle if line.strip()][:count]
    return tuple(m for m in (Chem.MolFromSmiles(s) for s in smiles) if m is not None)


def embed(mol, n_conformers: int, seed: int = 7):
    """Heavy-atom molecule carrying n ETKDGv3 conformers (embedded with hydrogens), or None."""
    mh = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if len(AllChem.EmbedMultipleConfs(mh, n_conformers, params)) < n_conformers:
        return None
    return Chem.RemoveHs(mh)


def conformer_tensor(mol, dtype=torch.float64):
    """(n_conformers, N, 3) coordinates of a molecule's conformers."""
    return torch.stack([torch.tensor(c.GetPositions(), dtype=dtype) for c in mol.GetConformers()])


@functools.lru_cache(maxsize=None)
def embedded_pairs(count: int = 340):
    """Heavy-atom NCI molecules (>= 3 atoms) with two ETKDG conformers each: at least `count`."""
    out = []
    for mol in nci_molecules(1000):
        if mol.GetNumAtoms() < 3:
            continue
        embedded = embed(mol, 2)
        if embedded is not None:
            out.append(embedded)
        if len(out) >= count:
            break
    return tuple(out)


