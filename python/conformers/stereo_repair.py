"""Stereo repair of generated conformers by rigid motions of acyclic branches.

A generator that cannot see handedness (distance-based models; DMCG reads RDKit's CW/CCW tag, which
is relative to the order of an atom's bonds and so invisible to a sum-aggregating network) draws
centres and double bonds of either sense. A wrong element whose atoms carry acyclic branches is
corrected without touching the rest of the conformer:

- a tetrahedral centre c with two acyclic neighbours a, b (hydrogens count): both branches are
  turned by 180 degrees about the bisector of c->a and c->b, which swaps them, so c is inverted;
- a double bond x=y outside rings: the branch beyond y is turned by 180 degrees about the bond.

Both are proper rotations of whole branches about axes through the atom they hang from: bond
lengths, angles and every other stereo element (inside the branches too) are kept. Centres whose
neighbours are all in rings (ring fusions, spiro atoms) and ring double bonds cannot be turned
this way; their conformers stay wrong and the caller drops them.
"""
from __future__ import annotations

import numpy as np
from rdkit import Chem

from .metrics.stereo import stereo_matches, wrong_stereo_elements

MIN_REPAIRED_DISTANCE = 1.0  # A: a turned atom may come no closer than this to an atom more than 2 bonds away


def repaired(mol: Chem.Mol, template: Chem.Mol, xyz: np.ndarray, wrong: tuple | None = None) -> np.ndarray | None:
    """Coordinates (N, 3) of ``mol``'s conformer ``xyz`` (A, hydrogens included, heavy atoms first
    in ``template``'s order) with its wrong stereo elements corrected, or None when some element
    cannot be turned, a turned branch would clash, or the result still differs from the template.
    ``wrong``: its wrong_stereo_elements when the caller has them already."""
    heavy = template.GetNumAtoms()
    wrong_atoms, wrong_bonds = wrong if wrong is not None else wrong_stereo_elements(template, xyz[:heavy])
    out, moved = np.array(xyz, dtype=np.float64), set()
    if not all(_invert_centre(mol, centre, out, moved) for centre in wrong_atoms):
        return None
    if not all(_flip_double_bond(mol, mol.GetBondWithIdx(bond), out, moved) for bond in wrong_bonds):
        return None
    if not moved or _clashes(mol, out, moved) or not stereo_matches(template, out[None, :heavy])[0]:
        return None
    return out


def _branch(mol: Chem.Mol, root: int, cut: int) -> list[int]:
    """Atoms reachable from ``root`` without passing ``cut`` (root's side of the bond root-cut)."""
    seen, stack = {root, cut}, [root]
    while stack:
        for nbr in mol.GetAtomWithIdx(stack.pop()).GetNeighbors():
            if nbr.GetIdx() not in seen:
                seen.add(nbr.GetIdx())
                stack.append(nbr.GetIdx())
    seen.discard(cut)
    return sorted(seen)


def _turn(xyz: np.ndarray, atoms: list[int], origin: np.ndarray, axis: np.ndarray) -> None:
    """In place: rotate ``atoms`` by 180 degrees about the line through origin along the unit axis."""
    v = xyz[atoms] - origin
    xyz[atoms] = origin + 2.0 * (v @ axis)[:, None] * axis - v


def _invert_centre(mol: Chem.Mol, centre: int, xyz: np.ndarray, moved: set) -> bool:
    """Swap the two smallest acyclic branches of ``centre``; False when it has fewer than two."""
    arms = sorted(((b.GetOtherAtomIdx(centre), _branch(mol, b.GetOtherAtomIdx(centre), centre))
                   for b in mol.GetAtomWithIdx(centre).GetBonds() if not b.IsInRing()), key=lambda arm: len(arm[1]))
    if len(arms) < 2:
        return False
    (a, branch_a), (b, branch_b) = arms[:2]
    bisector = _unit(xyz[a] - xyz[centre]) + _unit(xyz[b] - xyz[centre])
    if np.linalg.norm(bisector) < 1e-6:  # the two bonds point opposite ways: no tetrahedral centre here
        return False
    _turn(xyz, branch_a + branch_b, xyz[centre], _unit(bisector))
    moved.update(branch_a + branch_b)
    return True


def _flip_double_bond(mol: Chem.Mol, bond: Chem.Bond, xyz: np.ndarray, moved: set) -> bool:
    """Turn the smaller side of a double bond outside rings by 180 degrees about it."""
    if bond.IsInRing():
        return False
    x, y = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
    sides = sorted(((x, y), (y, x)), key=lambda s: len(_branch(mol, s[1], s[0])))
    anchor, root = sides[0]
    branch = [i for i in _branch(mol, root, anchor) if i != root]
    _turn(xyz, branch, xyz[anchor], _unit(xyz[root] - xyz[anchor]))
    moved.update(branch)
    return True


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _clashes(mol: Chem.Mol, xyz: np.ndarray, moved: set) -> bool:
    """A moved atom within MIN_REPAIRED_DISTANCE of any atom more than two bonds away (moved atoms
    of different turns included)."""
    rows = np.array(sorted(moved))
    distances = np.linalg.norm(xyz[rows, None, :] - xyz[None, :, :], axis=2)
    return bool(np.any((distances < MIN_REPAIRED_DISTANCE) & (Chem.GetDistanceMatrix(mol)[rows] > 2)))
