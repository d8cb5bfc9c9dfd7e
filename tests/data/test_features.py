"""Featurization on known molecules, against values checked by hand."""
import networkx as nx
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdMolDescriptors

from conformers.data import features
from conformers.data.features import HOP2_TYPE, HOP3_TYPE, featurize, full_graph

from ..molecules import egfr_molecules

COL = {name: k for k, name in enumerate(features.ATOM_FEATURES)}


def test_benzene():
    g = featurize(Chem.MolFromSmiles("c1ccccc1"))
    assert g.num_atoms == 6
    assert (g.atomic_numbers == 6).all()
    f = g.atom_features
    assert (f[:, COL["aromatic"]] == 1).all() and (f[:, COL["num_hs"]] == 1).all()
    assert (f[:, COL["hybridization"]] == features.HYBRIDIZATIONS.index(Chem.HybridizationType.SP2) + 1).all()
    assert (f[:, COL["in_ring"]] == 1).all() and (f[:, COL["ring_size"]] == 6 - 2).all()
    assert g.bond_index.shape == (2, 12)
    assert (g.bond_features[:, 0] == 4).all() and (g.bond_features[:, 1:3] == 1).all()  # aromatic, conj, ring
    counts = {t: int((g.extended_type == t).sum()) for t in np.unique(g.extended_type)}
    assert counts == {4: 12, HOP2_TYPE: 12, HOP3_TYPE: 6}  # each atom: 2 bonded, 2 meta, 1 para
    assert g.permutations.shape == (12, 6)  # the dihedral group D6
    assert not g.rotatable.any()
    assert (g.conjugated_system == 0).all()
    index, bond_type, path, same = full_graph(g.path_length, g.bond_index, g.bond_features, g.conjugated_system)
    assert index.shape == (2, 30) and same.all() and sorted(np.unique(path)) == [1, 2, 3]
    assert (bond_type[path == 1] == 4).all() and (bond_type[path > 1] == 0).all()


def test_ethanol_heavy_and_all_atoms():
    mol = Chem.MolFromSmiles("CCO")
    g = featurize(mol)
    assert g.atomic_numbers.tolist() == [6, 6, 8]
    assert g.atom_features[:, COL["num_hs"]].tolist() == [3, 2, 1]  # counted before H removal
    assert (g.atom_features[:, COL["hybridization"]] == features.HYBRIDIZATIONS.index(Chem.HybridizationType.SP3) + 1).all()
    assert g.bond_index.shape == (2, 4) and (g.bond_features[:, 0] == 1).all()
    pairs = {(int(a), int(b)): int(t) for a, b, t in zip(*g.extended_index, g.extended_type)}
    assert pairs == {(0, 1): 1, (1, 0): 1, (1, 2): 1, (2, 1): 1, (0, 2): HOP2_TYPE, (2, 0): HOP2_TYPE}
    assert g.permutations.tolist() == [[0, 1, 2]]
    assert not g.rotatable.any()  # both bonds end in a terminal heavy atom
    assert (g.conjugated_system == -1).all()
    _, _, _, same = full_graph(g.path_length, g.bond_index, g.bond_features, g.conjugated_system)
    assert not same.any()
    h = featurize(mol, hydrogens=True)
    assert h.num_atoms == 9 and h.bond_index.shape == (2, 16)
    assert h.atom_features[:3, COL["num_hs"]].tolist() == [3, 2, 1]
    assert h.permutations.shape == (12, 9)  # 3! methyl H x 2! methylene H
    assert not h.rotatable.any()  # judged on the heavy-atom graph: a methyl does not rotate anything


def test_butane_rotatable_and_charges():
    g = featurize(Chem.MolFromSmiles("CCCC"))
    rot = {(int(a), int(b)) for a, b, r in zip(*g.bond_index, g.rotatable) if r}
    assert rot == {(1, 2), (2, 1)}
    g = featurize(Chem.MolFromSmiles("C[N+](C)(C)C.[O-]C(=O)C"))
    assert g.atom_features[1, COL["formal_charge"]] == 3 and g.atom_features[5, COL["formal_charge"]] == 1
    assert (g.path_length[:5, 5:] == features.MAX_PATH_LENGTH).all()  # disconnected pairs get the cap


def test_chirality_and_bond_stereo():
    g = featurize(Chem.MolFromSmiles("C[C@H](N)O"))
    assert g.atom_features[1, COL["chirality"]] in (2, 3) and g.atom_features[0, COL["chirality"]] == 1
    g = featurize(Chem.MolFromSmiles("C/C=C/C"))
    double = g.bond_features[:, 0] == 2
    assert (g.bond_features[double, 3] == features.BOND_STEREO.index(Chem.BondStereo.STEREOE) + 1).all()


def test_drug_from_egfr_against_independent_computation():
    mol = egfr_molecules()[0]
    g = featurize(mol)
    assert g.num_atoms == mol.GetNumHeavyAtoms()
    assert int(g.rotatable.sum()) // 2 == rdMolDescriptors.CalcNumRotatableBonds(mol, rdMolDescriptors.NumRotatableBondsOptions.Strict)
    graph = nx.Graph([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
    hops = dict(nx.all_pairs_shortest_path_length(graph))
    for a, b, t in zip(*g.extended_index, g.extended_type):
        assert {1: t <= 4, 2: t == HOP2_TYPE, 3: t == HOP3_TYPE}[hops[int(a)][int(b)]]
    expected = sum(1 for a in hops for b in hops[a] if 1 <= hops[a][b] <= 3)
    assert g.extended_index.shape[1] == expected
    assert g.atom_features[:, COL["num_hs"]].tolist() == [min(a.GetTotalNumHs(), 4) for a in mol.GetAtoms()]
    matches = mol.GetSubstructMatches(mol, uniquify=False, useChirality=False, maxMatches=100000)
    import conformer_kernels as ck
    plain = ck.automorphisms(mol, symmetrize_conjugated_terminal_groups=False)
    assert len(matches) == plain.shape[0] <= g.permutations.shape[0]
    conj = [b for b in mol.GetBonds() if b.GetIsConjugated()]
    for b in conj:
        assert g.conjugated_system[b.GetBeginAtomIdx()] == g.conjugated_system[b.GetEndAtomIdx()] >= 0


def test_bad_molecules():
    with pytest.raises(ValueError, match="no atoms"):
        featurize(Chem.MolFromSmiles(""))
    with pytest.raises(ValueError, match="no heavy atoms"):
        featurize(Chem.MolFromSmiles("[H][H]"))
