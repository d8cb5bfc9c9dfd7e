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
    chiral tags (relative to neighbour order) and E/Z labels compare directly; where they differ,
    the conformer still matches if its stereo, kept on the template's elements only, gives the
    same canonical isomeric SMILES: a mirror image of an achiral molecule (norbornane's
    bridgeheads, a meso compound) swaps the tags of symmetric atoms yet is the same molecule."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    template = specified_stereo(template)
    atoms, bonds = stereo_elements(template)
    if not atoms and not bonds:
        return np.ones(len(coordinates), dtype=bool)
    expected = _labels(template, atoms, bonds)
    canonical = None
    out = np.zeros(len(coordinates), dtype=bool)
    for c, xyz in enumerate(coordinates):
        copy = _perceived(template, xyz)
        out[c] = _labels(copy, atoms, bonds) == expected
        if not out[c]:
            canonical = canonical or _canonical(Chem.MolToSmiles(template))
            out[c] = _canonical(_restricted_smiles(copy, set(atoms), set(bonds))) == canonical
    return out


def shared_stereo(template: Chem.Mol, coordinates: np.ndarray) -> Chem.Mol:
    """The template's specified stereo less the elements some reference conformer (coordinates
    (C, N, 3), template's atom order, A) does not reproduce: an ensemble that holds both
    enantiomers of a centre (an SDF written from a SMILES that left it open; each record's tags are
    read from its own 3D) does not specify that centre, whatever its first record's tags say."""
    template = specified_stereo(template)
    atoms, bonds = stereo_elements(template)
    coordinates = np.asarray(coordinates, dtype=np.float64)
    unmatched = ~stereo_matches(template, coordinates) if atoms or bonds else np.zeros(0, dtype=bool)
    if not unmatched.any():
        return template
    keep_atoms, keep_bonds = set(atoms), set(bonds)
    for xyz in coordinates[unmatched]:
        wrong_atoms, wrong_bonds = wrong_stereo_elements(template, xyz)
        keep_atoms -= set(wrong_atoms)
        keep_bonds -= set(wrong_bonds)
    out = Chem.Mol(template)
    _clear_stereo(out, keep_atoms, keep_bonds)
    return specified_stereo(out)


def wrong_stereo_elements(template: Chem.Mol, xyz: np.ndarray) -> tuple[list[int], list[int]]:
    """(atom indices, bond indices) of the template's specified stereo elements whose labels,
    perceived from the coordinates xyz (N, 3) in the template's atom order, differ from it."""
    template = specified_stereo(template)
    atoms, bonds = stereo_elements(template)
    (want_atoms, want_bonds), (got_atoms, got_bonds) = (_labels(template, atoms, bonds),
                                                        _labels(_perceived(template, xyz), atoms, bonds))
    return ([i for i, want, got in zip(atoms, want_atoms, got_atoms) if want != got],
            [i for i, want, got in zip(bonds, want_bonds, got_bonds) if want != got])


def _labels(mol: Chem.Mol, atoms: list, bonds: list) -> tuple[list, list]:
    """(chiral tags of the given atoms, stereo of the given bonds) of mol."""
    return [mol.GetAtomWithIdx(i).GetChiralTag() for i in atoms], [mol.GetBondWithIdx(i).GetStereo() for i in bonds]


def with_conformer(mol: Chem.Mol, xyz: np.ndarray) -> Chem.Mol:
    """A copy of mol whose only conformer has the coordinates xyz (N, 3), in A."""
    copy = Chem.Mol(mol)
    copy.RemoveAllConformers()
    conf = Chem.Conformer(copy.GetNumAtoms())
    conf.SetPositions(np.asarray(xyz, dtype=np.float64))
    copy.AddConformer(conf, assignId=True)
    return copy


def _perceived(template: Chem.Mol, xyz: np.ndarray) -> Chem.Mol:
    """A copy of the template whose stereo is perceived from the coordinates xyz (N, 3)."""
    copy = with_conformer(template, xyz)
    Chem.AssignStereochemistryFrom3D(copy)
    return copy


def _canonical(smiles: str) -> str:
    """SMILES -> canonical isomeric SMILES through a fresh parse: RDKit's canonical form of ring
    stereo (bridged rings) depends on how the tags were set, not only on the molecule, and a
    round trip makes two writings of one molecule agree."""
    parsed = Chem.MolFromSmiles(smiles)
    return Chem.MolToSmiles(parsed) if parsed is not None else smiles


def _restricted_smiles(mol: Chem.Mol, atoms: set, bonds: set) -> str:
    """Canonical isomeric SMILES of mol with stereo kept only on the given atoms and bonds."""
    _clear_stereo(mol, atoms, bonds)
    mol.RemoveAllConformers()
    return Chem.MolToSmiles(mol)


def _clear_stereo(mol: Chem.Mol, atoms: set, bonds: set) -> None:
    """In place: stereo kept only on the given atom and bond indices."""
    for atom in mol.GetAtoms():
        if atom.GetIdx() not in atoms:
            atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for bond in mol.GetBonds():
        if bond.GetIdx() not in bonds:
            bond.SetStereo(Chem.BondStereo.STEREONONE)
