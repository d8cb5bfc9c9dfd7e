"""The RDKit baseline every paper compares against: ETKDGv3 conformers, optionally MMFF-relaxed."""
from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import AllChem

from conformers.data.embedding import etkdg
from conformers.defaults import MMFF_MAX_ITERS

from .base import ConformerModel, register


def parse_smiles(smiles: str) -> Chem.Mol:
    """RDKit molecule of a SMILES string; ValueError naming the string if RDKit cannot parse it."""
    mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) and smiles.strip() else None
    if mol is None:
        raise ValueError(f"invalid SMILES: {smiles!r}")
    if mol.GetNumAtoms() == 0:
        raise ValueError(f"SMILES {smiles!r} has no atoms")
    return mol


def generate(mol: Chem.Mol, n_conformers: int, seed: int = 0, mmff: bool = False,
             timeout: float | None = None) -> Chem.Mol:
    """A copy of mol with explicit hydrogens and up to n_conformers ETKDGv3 conformers (MMFF94-relaxed
    with ``mmff``), the embedding bounded by ``timeout`` seconds: conformers.data.embedding.etkdg, the
    embedding every RDKit path here shares."""
    return etkdg(mol, n_conformers, seed=seed, mmff=mmff, timeout=timeout)


class RDKitModel(ConformerModel):
    """ETKDGv3 (+ MMFF94 with mmff=True): the registry's working entry from day one."""

    trainable = False
    sample_chunk = 1  # one molecule at a time: nothing is batched, each is written as it finishes

    def __init__(self, mmff: bool = False):
        super().__init__(mmff=mmff)
        self.name = "rdkit-mmff" if mmff else "rdkit"

    def sample(self, mols, n, seed: int = 0) -> list:
        """Per molecule, a copy with explicit H and n ETKDG (+MMFF) conformers, or the exception
        (embedding failed or passed timeout)."""
        counts = [n] * len(mols) if isinstance(n, int) else list(n)
        out = []
        for mol, count in zip(mols, counts):
            try:
                out.append(generate(mol, count, seed=seed, mmff=self.config["mmff"], timeout=self.timeout))
            except (RuntimeError, ValueError) as exc:
                out.append(exc)
        return out


class RDKitMMFFModel(RDKitModel):
    """ETKDGv3 + MMFF94; also an optimization model: MMFF94-relaxes given conformers."""

    def __init__(self, mmff: bool = True):
        super().__init__(mmff=True)

    def optimize(self, mols: list[Chem.Mol]) -> list:
        """Per molecule (with its conformers): a copy with explicit H, every conformer MMFF94-relaxed."""
        out = []
        for mol in mols:
            if mol.GetNumAtoms() == 0 or mol.GetNumConformers() == 0:
                out.append(ValueError("the record has no atoms or no conformer to optimize"))
                continue
            mol = Chem.AddHs(mol, addCoords=True)
            if not AllChem.MMFFHasAllMoleculeParams(mol):
                out.append(ValueError(f"MMFF94 has no parameters for {Chem.MolToSmiles(Chem.RemoveHs(mol))}"))
                continue
            AllChem.MMFFOptimizeMoleculeConfs(mol, maxIters=MMFF_MAX_ITERS)
            out.append(mol)
        return out


register("rdkit", RDKitModel, "RDKit ETKDGv3 (the baseline of all four papers)")
register("rdkit-mmff", RDKitMMFFModel, "RDKit ETKDGv3 + MMFF94 relaxation; optimizes with MMFF94")
