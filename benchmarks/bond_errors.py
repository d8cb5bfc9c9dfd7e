"""Local geometry of generated conformers against their references (issue 17: where do DMCG's
samples lose to ETKDG's?).

For each `conformers evaluate --out` folder given: every generated conformer's heavy-atom bond
lengths against the mean bond lengths of its molecule's reference ensemble (A), and the smallest
distance between two heavy atoms that share a neighbour (1-3 pairs, A). Prints, per folder, the
mean |bond error|, the share of bonds off by more than 0.1 A, the share of conformers with a bond
off by more than 0.2 A, and the share with a 1-3 pair closer than 1.0 A (collapsed angles).

    .venv/bin/python benchmarks/bond_errors.py -r data/nci-xtb/qm9 --split val runs/val/dmcg_qm9 runs/val/rdkit_qm9
"""
import argparse
import os

import numpy as np
import torch
from rdkit import Chem

from conformers.metrics.ensembles import atom_map, read_ensembles, same_graph
from conformers.metrics.evaluation import pair_ensembles
from conformers.models.common import bond_angles


def _bonds(mol: Chem.Mol) -> np.ndarray:
    return np.array([[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] for b in mol.GetBonds()], dtype=int).reshape(-1, 2)


def _angle_ends(bonds: np.ndarray, num_atoms: int) -> np.ndarray:
    """(T, 2) the two outer atoms of every bond angle of the (B, 2) bonds."""
    return bond_angles(torch.from_numpy(bonds.T), num_atoms)[1:].T.numpy()


def _lengths(X: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """X (C, N, 3) -> (C, P) distances of the given atom pairs."""
    return np.linalg.norm(X[:, pairs[:, 0]] - X[:, pairs[:, 1]], axis=-1)


def folder_errors(generated: dict, references: dict) -> dict:
    errors, worst, closest = [], [], []
    for _, gen, ref in pair_ensembles(generated, references)[0]:
        bonds = _bonds(ref.mol)
        ends = _angle_ends(bonds, ref.mol.GetNumAtoms())
        match = list(range(ref.mol.GetNumAtoms())) if same_graph(gen.mol, ref.mol) else atom_map(ref.mol, gen.mol)
        if not len(bonds) or match is None:
            continue
        X = gen.coordinates[:, match]  # the reference's atom order
        error = np.abs(_lengths(X, bonds) - _lengths(ref.coordinates, bonds).mean(0))  # (C, B)
        errors.append(error.ravel())
        worst.append(error.max(1))
        if len(ends):
            closest.append(_lengths(X, ends).min(1))
    errors, worst = np.concatenate(errors), np.concatenate(worst)
    closest = np.concatenate(closest) if closest else np.zeros(0)
    return {"mean_bond_error": errors.mean(), "bonds_off_0.1": (errors > 0.1).mean(),
            "conformers_bond_off_0.2": (worst > 0.2).mean(), "conformers_13_below_1.0": (closest < 1.0).mean(),
            "conformers": len(worst)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--reference", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("folders", nargs="+", help="conformers evaluate --out folders (generated.sdf inside)")
    args = parser.parse_args()
    references, _ = read_ensembles(args.reference, split=args.split)
    header = ("|bond err| A", "bonds>0.1A", "conf:bond>0.2A", "conf:1-3<1A", "n")
    print(f"{'folder':40s} " + " ".join(f"{h:>12s}" for h in header))
    for folder in args.folders:
        generated, _ = read_ensembles(os.path.join(folder, "generated.sdf"), split=None)
        r = folder_errors(generated, references)
        shares = (r["bonds_off_0.1"], r["conformers_bond_off_0.2"], r["conformers_13_below_1.0"])
        print(f"{folder:40s} {r['mean_bond_error']:12.3f} " + " ".join(f"{100 * x:11.1f}%" for x in shares)
              + f" {r['conformers']:12d}")


if __name__ == "__main__":
    main()
