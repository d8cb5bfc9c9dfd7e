"""Stereo fidelity: do a conformer's tetrahedral centres and double bonds, perceived from its 3D
coordinates by RDKit, match the stereo the input molecule specifies? Distance-based generators are
blind to chirality; this measures it."""
from __future__ import annotations

import numpy as np
from rdkit import Chem

_SPECIFIED_BOND = (Chem.BondStereo.STEREOE, Chem.BondStereo.STEREOZ, Chem.BondStereo.STEREOCIS,
                   Chem.BondStereo.STEREOTRANS)
_SPECIFIED_ATOM = (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW)


def specified_stereo(template: Chem.Mol) -> Chem.Mol:
    """A copy of the template keeping only the stereo that perception from 3D can report: tags on
    atoms that are no stereocentres (adamantane's bridgeheads, tagged when an SDF is read) are
    cleaned by the same rules AssignStereochemistryFrom3D applies, so they are never counted as
    specified stereo that every conformer then "misses"."""
    copy = Chem.Mol(template)
    Chem.AssignStereochemistry(copy, cleanIt=True, force=True)
    return copy


def stereo_elements(template: Chem.Mol) -> tuple[list[int], list[int]]:
    """(atom indices, bond indices) whose stereo the template specifies (specified_stereo)."""
    template = specified_stereo(template)
    atoms = [a.GetIdx() for a in template.GetAtoms() if a.GetChiralTag() in _SPECIFIED_ATOM]
    bonds = [b.GetIdx() for b in template.GetBonds() if b.GetStereo() in _SPECIFIED_BOND]
    return atoms, bonds


def stereo_matches(template: Chem.Mol, coordinates: np.ndarray) -> np.ndarray:
    """(C,) bool: conformer c (coordinates[c], template's atom order, Angstrom) reproduces every
    stereo element the template specifies. The copy keeps the template's bond order, so RDKit's
    chiral tags (relative to neighbour order) and E/Z labels compare directly."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    template = specified_stereo(template)
    atoms, bonds = stereo_elements(template)
    if not atoms and not bonds:
        return np.ones(len(coordinates), dtype=bool)
    expected_atoms = [template.GetAtomWithIdx(i).GetChiralTag() for i in atoms]
    expected_bonds = [template.GetBondWithIdx(i).GetStereo() for i in bonds]
    out = np.zeros(len(coordinates), dtype=bool)
    for c, xyz in enumerate(coordinates):
        copy = Chem.Mol(template)
        copy.RemoveAllConformers()
        conf = Chem.Conformer(copy.GetNumAtoms())
        conf.SetPositions(xyz)
        copy.AddConformer(conf, assignId=True)
        Chem.AssignStereochemistryFrom3D(copy)
        out[c] = (all(copy.GetAtomWithIdx(i).GetChiralTag() == t for i, t in zip(atoms, expected_atoms))
                  and all(copy.GetBondWithIdx(i).GetStereo() == s for i, s in zip(bonds, expected_bonds)))
    return out
