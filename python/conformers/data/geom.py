"""Reader for GEOM's ``rdkit_folder`` release (summary_<name>.json + one pickle per molecule).

Known quirks of the release are handled and counted, never crashed on: ``uniqueconfs`` disagreeing
with the conformer list, missing Boltzmann weights, disconnected molecules, conformers whose graph
changed during the conformer search, and unreadable or truncated pickles.
"""
from __future__ import annotations

import json
import math
import os
import pickle
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from rdkit import Chem

HARTREE_KCAL = 627.509474
BOLTZMANN_KCAL = 0.0019872043  # kcal/(mol K)


@dataclass
class GeomMolecule:
    """One molecule of a GEOM-layout release with its conformers, highest Boltzmann weight first.

    ``mol`` holds explicit hydrogens and one RDKit conformer per kept conformer, all in one atom order.
    """
    smiles: str
    name: str
    mol: Chem.Mol
    weights: np.ndarray           # (C,) Boltzmann weights as stored (renormalised over kept conformers)
    energies: np.ndarray          # (C,) total energies in Hartree (NaN where missing)
    quirks: Counter = field(default_factory=Counter)  # handled oddities, by name

    @property
    def num_conformers(self) -> int:
        return self.mol.GetNumConformers()

    def positions(self, heavy_only: bool = True) -> np.ndarray:
        """(C, N, 3) float64 coordinates in Angstrom."""
        keep = [a.GetIdx() for a in self.mol.GetAtoms() if not heavy_only or a.GetAtomicNum() != 1]
        return np.stack([c.GetPositions()[keep] for c in self.mol.GetConformers()])


class SkippedMolecule(Exception):
    """A molecule the loader cannot use; ``reason`` is a short machine-readable key."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def read_summary(root: str, name: str) -> dict:
    """The summary json of a release (``root/summary_<name>.json``), keyed by SMILES."""
    path = os.path.join(root, f"summary_{name}.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no GEOM summary at {path} (expected the rdkit_folder layout: "
                                f"summary_{name}.json next to the {name}/ folder of pickles)")
    try:
        with open(path) as handle:
            summary = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(summary, dict):
        raise ValueError(f"{path} must hold a JSON object keyed by SMILES")
    return summary


def heavy_skeleton(mol: Chem.Mol) -> str:
    """Canonical stereo-free heavy-atom SMILES: the identity conformers of one molecule share.
    Sanitized, so that a kekulized and an aromatic copy of one molecule agree."""
    return Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False)


def leakage_key(smiles_or_mol) -> str:
    """Stereo-free connectivity identity (InChIKey first block) for train/test leakage checks:
    stereoisomers, tautomer-equivalent and differently written SMILES of one molecule collide."""
    mol = Chem.MolFromSmiles(smiles_or_mol) if isinstance(smiles_or_mol, str) else smiles_or_mol
    if mol is None:
        raise ValueError(f"invalid SMILES: {smiles_or_mol!r}")
    key = Chem.MolToInchiKey(mol)
    return key.split("-")[0] if key else Chem.MolToSmiles(mol, isomericSmiles=False)


def boltzmann_weights(energies_hartree: np.ndarray, temperature: float = 298.15) -> np.ndarray:
    relative = (np.asarray(energies_hartree, dtype=np.float64) - np.nanmin(energies_hartree)) * HARTREE_KCAL
    w = np.exp(-relative / (BOLTZMANN_KCAL * temperature))
    return w / w.sum()


def _read_pickle(path: str) -> dict:
    if not os.path.isfile(path):
        raise SkippedMolecule("missing_file", path)
    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle)
    except Exception as exc:  # truncated or corrupt files raise anything from EOFError to UnpicklingError
        raise SkippedMolecule("corrupt_file", f"{path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("conformers"), list):
        raise SkippedMolecule("corrupt_file", f"{path}: no 'conformers' list")
    return data


def _atom_signature(mol):
    return ([a.GetAtomicNum() for a in mol.GetAtoms()],
            sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()))


def load_molecule(root: str, smiles: str, entry: dict, max_heavy_atoms: int | None = None) -> GeomMolecule:
    """Read one molecule of a release; raises SkippedMolecule(reason) when it cannot be used."""
    if "." in smiles:
        raise SkippedMolecule("disconnected", smiles)
    if not isinstance(entry, dict) or "pickle_path" not in entry:
        raise SkippedMolecule("no_pickle_path", smiles)
    path = os.path.join(root, entry["pickle_path"])
    data = _read_pickle(path)
    quirks = Counter()
    unique = data.get("uniqueconfs", entry.get("uniqueconfs"))
    if unique != len(data["conformers"]):
        quirks["uniqueconfs_mismatch"] += 1
    ref = Chem.MolFromSmiles(smiles)
    if ref is None:
        raise SkippedMolecule("invalid_smiles", smiles)
    if len(Chem.GetMolFrags(ref)) > 1:
        raise SkippedMolecule("disconnected", smiles)
    skeleton = heavy_skeleton(ref)
    if max_heavy_atoms is not None and ref.GetNumHeavyAtoms() > max_heavy_atoms:
        raise SkippedMolecule("too_large", f"{smiles}: {ref.GetNumHeavyAtoms()} heavy atoms > {max_heavy_atoms}")

    template, signature, kept, weights, energies = None, None, [], [], []
    for conf in data["conformers"]:
        rd_mol = conf.get("rd_mol") if isinstance(conf, dict) else None
        if rd_mol is None or rd_mol.GetNumConformers() == 0:
            quirks["conformer_without_geometry"] += 1
            continue
        try:
            changed = heavy_skeleton(rd_mol) != skeleton
        except Exception:  # an rd_mol RDKit cannot write back has changed beyond recognition
            changed = True
        if changed:
            quirks["graph_changed_conformer"] += 1
            continue
        positions = rd_mol.GetConformer().GetPositions()
        if template is None:
            template, signature = Chem.Mol(rd_mol), _atom_signature(rd_mol)
            template.RemoveAllConformers()
        elif _atom_signature(rd_mol) != signature:  # same molecule, other atom order: map onto ours
            match = rd_mol.GetSubstructMatch(template)
            if len(match) != template.GetNumAtoms():
                quirks["unmappable_conformer"] += 1
                continue
            positions = positions[list(match)]
            quirks["reordered_conformer"] += 1
        if not np.isfinite(positions).all():
            quirks["nonfinite_conformer"] += 1
            continue
        kept.append(positions)
        weights.append(_number(conf.get("boltzmannweight")))
        energies.append(_number(conf.get("totalenergy")))
    if not kept:
        raise SkippedMolecule("no_usable_conformer", f"{smiles}: none of {len(data['conformers'])} conformers "
                                                     "kept the molecule's graph")
    weights, energies = np.asarray(weights), np.asarray(energies)
    weights = _repair_weights(weights, energies, float(data.get("temperature", entry.get("temperature", 298.15))),
                              quirks)
    order = np.argsort(-weights, kind="stable")
    mol = Chem.Mol(template)
    for i in order:
        conf = Chem.Conformer(mol.GetNumAtoms())
        conf.SetPositions(kept[i].astype(np.float64))
        mol.AddConformer(conf, assignId=True)
    name = str(entry.get("name") or os.path.splitext(os.path.basename(entry["pickle_path"]))[0])
    return GeomMolecule(smiles, name, mol, weights[order], energies[order], quirks)


def _number(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def _repair_weights(weights, energies, temperature, quirks) -> np.ndarray:
    """Weights renormalised over the kept conformers; missing ones rebuilt from the energies
    (Boltzmann at the release's temperature), else uniform."""
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        quirks["missing_boltzmann_weight"] += int(bad.sum())
        if np.isfinite(energies).all():
            return boltzmann_weights(energies, temperature)
        weights = np.where(bad, 0.0, weights)
    total = weights.sum()
    if total <= 0:
        return np.full(len(weights), 1.0 / len(weights))
    return weights / total


# --- conformer selection rules of the papers ---------------------------------------------------------

SELECTION_RULES = ("all", "top_k", "cumulative", "relative")


@dataclass(frozen=True)
class Selection:
    """Which conformers of a molecule to use, its weights sorted in decreasing order.

    all: every conformer; top_k: the k of highest weight (ConfGF/DMCG training, k=5);
    cumulative: the fewest top conformers whose weights sum to >= mass (0.95);
    relative: those with weight >= ratio x the best (ConfOpt, 0.5).
    """
    rule: str = "all"
    k: int = 5
    mass: float = 0.95
    ratio: float = 0.5

    def __post_init__(self):
        if self.rule not in SELECTION_RULES:
            raise ValueError(f"unknown selection rule {self.rule!r}; expected one of {SELECTION_RULES}")

    def count(self, sorted_weights: np.ndarray) -> int:
        """How many leading conformers of a molecule (weights sorted descending) to keep."""
        n = len(sorted_weights)
        if n == 0 or self.rule == "all":
            return n
        if self.rule == "top_k":
            return min(self.k, n)
        w = np.asarray(sorted_weights, dtype=np.float64)
        if self.rule == "cumulative":
            return int(min(n, np.searchsorted(np.cumsum(w) / w.sum(), self.mass - 1e-12) + 1))
        return int(max(1, (w >= self.ratio * w[0]).sum()))
