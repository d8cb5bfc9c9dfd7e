"""automorphisms: equal to RDKit substructure self-matches and to networkx VF2; the GetBestRMS mode."""
import warnings

import pytest
import torch
from rdkit import Chem

import conformer_kernels as ck
from conformer_kernels.reference.automorphisms import automorphisms_vf2

from tests.molecules import egfr_molecules, nci_molecules


def _as_set(perms):
    return set(map(tuple, perms.tolist()))


def _rdkit_self_matches(mol):
    return set(mol.GetSubstructMatches(mol, uniquify=False, useChirality=False, maxMatches=10**7))


def test_plain_mode_equals_rdkit_on_shipped_molecules():
    """Every egfr.sdf molecule and 1000 NCI molecules (heavy atoms): same set as RDKit."""
    mols = list(egfr_molecules()) + list(nci_molecules(1000))
    assert len(mols) >= 1000
    mismatched, capped = [], 0
    for mol in mols:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ours = ck.automorphisms(mol, max_count=10**6, symmetrize_conjugated_terminal_groups=False)
        rdkit = _rdkit_self_matches(mol)
        if caught:  # hit the step budget: a correct, incomplete subset, and a warning said so
            capped += 1
            assert _as_set(ours) <= rdkit and len(ours) < len(rdkit)
            continue
        if _as_set(ours) != rdkit:
            mismatched.append(Chem.MolToSmiles(mol))
        assert ours.shape[1] == mol.GetNumAtoms() and ours[0].tolist() == list(range(mol.GetNumAtoms()))
    assert not mismatched, mismatched[:5]
    assert capped <= 1  # the 589,824-automorphism fluorinated silane of first_5K.smi


@pytest.mark.parametrize("smiles, count", [
    ("c1ccccc1", 12), ("C(C)(C)(C)C", 24), ("CC(C)(C)c1ccccc1", 12), ("O=C(O)c1ccccc1", 2),
    ("C1CC2CCC1CC2", 12), ("C12C3C4C1C5C2C3C45", 48),  # bicyclooctane, cubane
])
def test_known_counts_and_vf2_reference(smiles, count):
    mol = Chem.MolFromSmiles(smiles)
    perms = ck.automorphisms(mol, symmetrize_conjugated_terminal_groups=False)
    atoms = torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()])
    bonds = torch.tensor([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()])
    labels = torch.tensor([int(b.GetBondType()) for b in mol.GetBonds()])
    plain = ck.automorphisms((atoms, bonds, labels))
    assert _as_set(plain) == _as_set(automorphisms_vf2(atoms, bonds, labels))
    if smiles != "C12C3C4C1C5C2C3C45":  # RDKit's SSSR ring counts break cubane's symmetry
        assert len(perms) == count and _as_set(perms) == _as_set(plain)
    assert len(plain) == count


def test_conjugated_terminal_groups_match_get_best_rms_mode():
    # Benzoic acid: the two oxygens swap only in the default (GetBestRMS) mode.
    acid = Chem.MolFromSmiles("O=C(O)c1ccccc1")
    assert len(ck.automorphisms(acid, symmetrize_conjugated_terminal_groups=False)) == 2
    assert len(ck.automorphisms(acid)) == 4
    for smiles, plain, symmetric in [("CC(=O)[O-]", 1, 2), ("C[N+](=O)[O-]", 1, 2), ("CC(=N)N", 1, 2),
                                     ("NC(=N)Nc1ccccc1", 2, 4), ("CC(N)=O", 1, 1), ("OC(O)C", 2, 2)]:
        mol = Chem.MolFromSmiles(smiles)
        assert len(ck.automorphisms(mol, symmetrize_conjugated_terminal_groups=False)) == plain, smiles
        assert len(ck.automorphisms(mol)) == symmetric, smiles


def test_plain_graph_inputs():
    # A 4-cycle given as edge_index (2, E) with both directions: dihedral group of order 8.
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 0], [1, 0, 2, 1, 3, 2, 0, 3]])
    perms = ck.automorphisms((torch.zeros(4, dtype=torch.int64), edge_index))
    assert len(perms) == 8
    assert len(ck.automorphisms({"atom_labels": [0, 1, 0, 0], "bonds": [[0, 1], [1, 2], [2, 3], [3, 0]]})) == 2
    # Disconnected graph and an isolated atom are fine.
    assert len(ck.automorphisms(([6, 6, 6], torch.zeros((0, 2), dtype=torch.int64)))) == 6


def test_cap_warns_and_never_hangs():
    mol = Chem.MolFromSmiles("CC(C)(C)C(C(C)(C)C)(C(C)(C)C)C(C)(C)C")  # 4 tert-butyls: 24 * 6^4 permutations
    with pytest.warns(ck.SymmetryCapWarning, match="max_count=50"):
        perms = ck.automorphisms(mol, max_count=50)
    assert perms.shape == (50, mol.GetNumAtoms())
    with pytest.warns(ck.SymmetryCapWarning, match="max_steps"):
        ck.automorphisms(mol, max_count=10**9, max_steps=1000)
    # A 60-atom all-carbon cage (fullerene-like, 120 automorphisms) finishes quickly.
    c60 = Chem.MolFromSmiles("c12c3c4c5c1c1c6c7c2c2c8c3c3c9c4c4c%10c5c5c1c1c6c6c%11c7c2c2c7c8c3c3c8c9c4c4c9c%10c5c5c1c1c6c6c%11c2c2c7c3c3c8c4c4c9c5c1c1c6c2c3c41")
    assert len(ck.automorphisms(c60, symmetrize_conjugated_terminal_groups=False)) == 120


@pytest.mark.parametrize("bad, message", [
    (([0, 0], [[0, 5]]), "outside"), (([0, 0], [[0, 0]]), "self-loop"), (([], []), "no atoms"),
    (([0, 0], [[0, 1]], [1, 2]), "one entry per bond"), ("CCO", "RDKit Mol"),
])
def test_bad_graphs_raise_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        ck.automorphisms(bad)


def test_symmetry_classes():
    mol = Chem.MolFromSmiles("CC(C)(C)c1ccccc1")
    classes = ck.symmetry_classes(mol)
    assert classes[1] != classes[2] and classes[2] == classes[3] == classes[0]
    assert len(set(classes.tolist())) == 6  # CH3, C quaternary, ipso, ortho, meta, para


def _pickle_read(mol, symmetrize):
    """(why, labelled graph or None) of the C++ pickle reader, as _mol_graph calls it."""
    from conformer_kernels import _backend
    from conformer_kernels.ops.automorphisms import _NO_PAIRS, _bond_order_labels, _terminal_pairs

    pairs = _terminal_pairs(mol) if symmetrize else _NO_PAIRS
    return _backend._C().mol_graph_from_pickle(mol.ToBinary(Chem.PropertyPickleOptions.NoConformers),
                                               _bond_order_labels(), pairs)


def _read_by_atom(mol, symmetrize):
    from conformer_kernels import _backend
    from conformer_kernels.ops.automorphisms import _NO_PAIRS, _bond_order_labels, _mol_fields_by_atom, _terminal_pairs

    pairs = _terminal_pairs(mol) if symmetrize else _NO_PAIRS
    return _backend._C().label_mol_graph(*_mol_fields_by_atom(mol), _bond_order_labels(), pairs)


def _pickle_edge_cases():
    """Molecules whose pickles exercise every optional field the reader skips or reads."""
    from rdkit.Chem import AllChem

    smiles = ("OC(=O)c1ccc(cc1)C([O-])=O", "NC(=[NH2+])c1ccccc1", "[O-][N+](=O)c1ccc(cc1)[N+]([O-])=O",
              "[13CH3]C([13CH3])C", "[CH2]c1ccc([CH2])cc1", "[2H]C([2H])(C)C", "*CC*", "C[Si](C)(C)C",
              "FC(F)(Cl)Br", "[NH3+]CC([O-])=O", "[CH3:1][CH2:200]O", "C/C=C/C", "F/C=C(/Cl)Br", "C[C@H](N)O",
              "[Fe+2].[Cl-].[Cl-]", "C1CC2CCC1CC2", "c1ccc2ccccc2c1", "[O]", "C[N+](C)(C)[O-]", "[*:3]C(=O)O")
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    mols.append(Chem.AddHs(Chem.MolFromSmiles("CC(C)O")))
    with_conformers = Chem.AddHs(Chem.MolFromSmiles("OCC(=O)O"))
    AllChem.EmbedMultipleConfs(with_conformers, 3, randomSeed=1)
    mols.append(with_conformers)
    block = Chem.MolToMolBlock(Chem.MolFromSmiles("C[C@@H](O)C(=O)O"))  # wedged bonds: bond directions
    mols.append(Chem.MolFromMolBlock(block))
    big = Chem.MolFromSmiles("C" * 300 + "(=O)[O-]")  # more than 255 atoms: int32 atom indices
    mols.append(big)
    unsanitized = Chem.MolFromSmiles("C1CCCCC1C(=O)O", sanitize=False)  # no ring info in its pickle
    mols.append(unsanitized)
    dative = Chem.RWMol(Chem.MolFromSmiles("CN(C)C.B(F)(F)F"))
    dative.AddBond(1, 4, Chem.BondType.DATIVE)
    mols.append(dative.GetMol())
    ionic = Chem.RWMol(Chem.MolFromSmiles("CC.CC"))
    ionic.AddBond(1, 2, Chem.BondType.ZERO)
    mols.append(ionic.GetMol())
    return mols


def test_graph_read_from_the_pickle_equals_the_read_through_rdkit_api():
    """The C++ pickle reader (the default) and the atom-by-atom read through RDKit's API give the
    same labelled graph, with and without the conjugated-terminal symmetrization, on real molecules
    and on pickles with atom maps, dummy labels, isotopes, radicals, bond stereo and directions,
    conformers, > 255 atoms, no ring info, dative and zero-order bonds."""
    for mol in list(nci_molecules(300)) + _pickle_edge_cases():
        for symmetrize in (False, True):
            why, graph = _pickle_read(mol, symmetrize)
            assert why == "" and graph is not None, (Chem.MolToSmiles(mol), why)
            for ours, theirs in zip(graph, _read_by_atom(mol, symmetrize)):
                assert torch.equal(ours, theirs), Chem.MolToSmiles(mol)


def test_pickles_the_reader_does_not_know_are_read_through_rdkit_api():
    """Query atoms (SMARTS) and PDB residue info are refused with a reason, and ck.automorphisms
    still answers through the per-atom read; a truncated or foreign pickle is refused, never read."""
    query = Chem.MolFromSmarts("[#6]1:[#6]:[#6]:[#6]:[#6]:[#6]:1-[#8]")
    pdb = Chem.MolFromPDBBlock("HETATM    1  C1  LIG A   1       0.000   0.000   0.000  1.00  0.00           C\n"
                               "HETATM    2  O1  LIG A   1       1.400   0.000   0.000  1.00  0.00           O\n"
                               "CONECT    1    2\nEND\n")
    for mol in (query, pdb):
        why, graph = _pickle_read(mol, True)
        assert graph is None and why
        assert ck.automorphisms(mol).shape[1] == mol.GetNumAtoms()
    assert len(_as_set(ck.automorphisms(query))) == 2  # the ring's mirror, as RDKit's self-match
    from conformer_kernels import _backend
    from conformer_kernels.ops.automorphisms import _bond_order_labels

    whole = Chem.MolFromSmiles("c1ccccc1O").ToBinary()
    for bad in (whole[: len(whole) // 2], whole[:30], b"not a pickle at all", b""):
        why, graph = _backend._C().mol_graph_from_pickle(bad, _bond_order_labels(), torch.zeros(0, 2, dtype=torch.int64))
        assert graph is None and why


def test_zero_order_bonds_are_labelled_by_bond_type():
    from conformer_kernels.ops.automorphisms import _mol_graph

    ionic = Chem.RWMol(Chem.MolFromSmiles("CC.CC"))
    ionic.AddBond(1, 2, Chem.BondType.ZERO)
    atoms, bonds, labels = _mol_graph(ionic, True)
    assert len(bonds) == 3 and labels.tolist() == [int(Chem.BondType.SINGLE), int(Chem.BondType.SINGLE),
                                                   int(Chem.BondType.ZERO)]
