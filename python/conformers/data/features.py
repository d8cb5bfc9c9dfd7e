"""Molecular graph featurization: atom and bond features and the three edge sets the models use.

Every feature is a small categorical index (int8/int16 numpy arrays), so the on-disk cache stays
compact and framework neutral; models embed them. Index 0 of every vocabulary is "other/none".
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, fields

import numpy as np
from rdkit import Chem
from rdkit.Chem import Lipinski

ELEMENTS = (1, 5, 6, 7, 8, 9, 14, 15, 16, 17, 35, 53)  # H B C N O F Si P S Cl Br I; others -> 0
HYBRIDIZATIONS = (Chem.HybridizationType.S, Chem.HybridizationType.SP, Chem.HybridizationType.SP2,
                  Chem.HybridizationType.SP3, Chem.HybridizationType.SP3D, Chem.HybridizationType.SP3D2)
CHIRAL_TAGS = (Chem.ChiralType.CHI_UNSPECIFIED, Chem.ChiralType.CHI_TETRAHEDRAL_CW,
               Chem.ChiralType.CHI_TETRAHEDRAL_CCW)
BOND_TYPES = (Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE, Chem.BondType.AROMATIC)
BOND_STEREO = (Chem.BondStereo.STEREONONE, Chem.BondStereo.STEREOANY, Chem.BondStereo.STEREOZ,
               Chem.BondStereo.STEREOE, Chem.BondStereo.STEREOCIS, Chem.BondStereo.STEREOTRANS)

# Column order of atom_features / bond_features, and each column's vocabulary size.
ATOM_FEATURES = {"element": len(ELEMENTS) + 1, "aromatic": 2, "hybridization": len(HYBRIDIZATIONS) + 1,
                 "num_hs": 5, "formal_charge": 5, "chirality": len(CHIRAL_TAGS) + 1, "in_ring": 2,
                 "ring_size": 8}
BOND_FEATURES = {"bond_type": len(BOND_TYPES) + 1, "conjugated": 2, "in_ring": 2, "stereo": len(BOND_STEREO) + 1}
# Extended-graph edge types: 1-4 the bond types, then one type per extra hop (ConfGF/ConfVAE:
# type = n_bond_types + hop - 1).
HOP2_TYPE, HOP3_TYPE = len(BOND_TYPES) + 1, len(BOND_TYPES) + 2
EXTENDED_TYPES = len(BOND_TYPES) + 3
MAX_PATH_LENGTH = 10  # ConfOpt's full graph: farther or disconnected pairs get 10
DEFAULT_MAX_PERMUTATIONS = 1000

_ELEMENT_INDEX = {z: i + 1 for i, z in enumerate(ELEMENTS)}
_ROTATABLE = Lipinski.RotatableBondSmarts  # RDKit's strict rotatable-bond pattern


@dataclass
class MolGraph:
    """A molecule's graph, features and symmetry, as numpy arrays with molecule-local atom indices.

    N atoms, B bonds (each stored in both directions: 2B directed edges), E extended edges.
    """
    atomic_numbers: np.ndarray   # (N,) int16
    atom_features: np.ndarray    # (N, len(ATOM_FEATURES)) int8, columns as ATOM_FEATURES
    bond_index: np.ndarray       # (2, 2B) int32, both directions
    bond_features: np.ndarray    # (2B, len(BOND_FEATURES)) int8
    rotatable: np.ndarray        # (2B,) bool: the bond is rotatable (RDKit's strict Lipinski pattern)
    extended_index: np.ndarray   # (2, E) int32: bonds plus 2- and 3-hop pairs, both directions
    extended_type: np.ndarray    # (E,) int8: 1-4 bond type, HOP2_TYPE, HOP3_TYPE
    path_length: np.ndarray      # (N, N) uint8 shortest-path length, capped at MAX_PATH_LENGTH
    conjugated_system: np.ndarray  # (N,) int16: id of the atom's conjugated system, -1 for none
    permutations: np.ndarray     # (P, N) int16 symmetric-atom permutations, identity first
    symmetry_capped: bool        # the permutation table stopped at its cap (incomplete)

    @property
    def num_atoms(self) -> int:
        return int(self.atomic_numbers.shape[0])

    def arrays(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "symmetry_capped"}


def atom_features(mol: Chem.Mol, num_hs: list[int]) -> np.ndarray:
    ring_info = mol.GetRingInfo()
    rows = []
    for atom in mol.GetAtoms():
        i = atom.GetIdx()
        smallest = min((len(r) for r in ring_info.AtomRings() if i in r), default=0)
        rows.append((
            _ELEMENT_INDEX.get(atom.GetAtomicNum(), 0),
            int(atom.GetIsAromatic()),
            _index(HYBRIDIZATIONS, atom.GetHybridization()),
            min(num_hs[i], 4),
            min(max(atom.GetFormalCharge(), -2), 2) + 2,
            _index(CHIRAL_TAGS, atom.GetChiralTag()),
            int(atom.IsInRing()),
            0 if smallest == 0 else min(smallest, 9) - 2,  # 3..9+ -> 1..7
        ))
    return np.asarray(rows, dtype=np.int8).reshape(-1, len(ATOM_FEATURES))


def _index(vocabulary, value) -> int:
    return vocabulary.index(value) + 1 if value in vocabulary else 0


def bond_arrays(mol: Chem.Mol, rotatable_pairs: set):
    src, dst, feats, rot = [], [], [], []
    for bond in mol.GetBonds():
        a, b = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        row = (_index(BOND_TYPES, bond.GetBondType()), int(bond.GetIsConjugated()), int(bond.IsInRing()),
               _index(BOND_STEREO, bond.GetStereo()))
        is_rot = (min(a, b), max(a, b)) in rotatable_pairs
        src += [a, b]
        dst += [b, a]
        feats += [row, row]
        rot += [is_rot, is_rot]
    return (np.asarray([src, dst], dtype=np.int32).reshape(2, -1),
            np.asarray(feats, dtype=np.int8).reshape(-1, len(BOND_FEATURES)), np.asarray(rot, dtype=bool))


def conjugated_systems(mol: Chem.Mol) -> np.ndarray:
    """Atoms joined by conjugated bonds share a system id (union-find over conjugated bonds)."""
    parent = list(range(mol.GetNumAtoms()))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    member = np.zeros(mol.GetNumAtoms(), dtype=bool)
    for bond in mol.GetBonds():
        if bond.GetIsConjugated():
            a, b = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            member[[a, b]] = True
            parent[root(a)] = root(b)
    ids, out = {}, np.full(mol.GetNumAtoms(), -1, dtype=np.int16)
    for i in np.flatnonzero(member):
        out[i] = ids.setdefault(root(int(i)), len(ids))
    return out


def shortest_paths(mol: Chem.Mol) -> np.ndarray:
    d = Chem.GetDistanceMatrix(mol)  # disconnected pairs come back as a huge number
    return np.minimum(d, MAX_PATH_LENGTH).astype(np.uint8)


def extended_edges(path_length: np.ndarray, bond_index: np.ndarray, bond_features: np.ndarray):
    """Bonds (typed by bond type) plus 2-hop and 3-hop pairs (typed by hop), both directions."""
    n = path_length.shape[0]
    types = np.zeros((n, n), dtype=np.int8)
    types[path_length == 2] = HOP2_TYPE
    types[path_length == 3] = HOP3_TYPE
    types[bond_index[0], bond_index[1]] = np.maximum(bond_features[:, 0], 1)  # "other" bond -> single
    src, dst = np.nonzero(types)
    return np.stack([src, dst]).astype(np.int32), types[src, dst]


def rotatable_bonds(mol: Chem.Mol) -> set:
    """(i, j) pairs, i < j, of RDKit's strict rotatable bonds, judged on the heavy-atom graph (so a
    methyl or hydroxyl is not rotatable) and mapped back to mol's atom indices."""
    heavy_index = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() != 1]
    heavy = Chem.RemoveHs(mol, sanitize=False) if len(heavy_index) < mol.GetNumAtoms() else mol
    if heavy.GetNumAtoms() != len(heavy_index):  # RemoveHs kept some H (isotopes, H2): match directly
        heavy, heavy_index = mol, list(range(mol.GetNumAtoms()))
    heavy.UpdatePropertyCache(strict=False)
    pairs = set()
    for a, b in heavy.GetSubstructMatches(_ROTATABLE):
        a, b = heavy_index[a], heavy_index[b]
        pairs.add((min(a, b), max(a, b)))
    return pairs


def symmetric_permutations(mol: Chem.Mol, max_permutations: int):
    """((P, N) int64 tensor of ck.automorphisms, whether the enumeration hit its cap), the cap
    reported as a flag rather than a warning."""
    import conformer_kernels as ck

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ck.SymmetryCapWarning)
        perms = ck.automorphisms(mol, max_count=max_permutations)
    return perms, any(issubclass(w.category, ck.SymmetryCapWarning) for w in caught)


def remove_hs(mol: Chem.Mol) -> Chem.Mol:
    """``mol`` without hydrogens, those that define a double bond's stereo included (plain RemoveHs
    keeps the H of an imine =NH with stereo, so its heavy-atom graph would hold one H atom)."""
    params = Chem.RemoveHsParameters()
    params.removeDefiningBondStereo = True
    return Chem.RemoveHs(mol, params)


def featurize(mol: Chem.Mol, hydrogens: bool = False, max_permutations: int = DEFAULT_MAX_PERMUTATIONS) -> MolGraph:
    """Features and edge sets of an RDKit molecule: heavy atoms only (default) or with explicit H.

    The number of hydrogens is counted before they are removed (ConfOpt's released code counts
    it afterwards, so its feature is always 0). Raises ValueError for a molecule without atoms
    (or without heavy atoms in heavy-atom mode).
    """
    if mol is None or mol.GetNumAtoms() == 0:
        raise ValueError("molecule has no atoms")
    num_hs_source = Chem.AddHs(mol) if hydrogens else mol
    graph_mol = num_hs_source if hydrogens else remove_hs(mol)
    if graph_mol.GetNumAtoms() == 0 or all(a.GetAtomicNum() == 1 for a in graph_mol.GetAtoms()):
        raise ValueError(f"molecule {Chem.MolToSmiles(mol)} has no heavy atoms")
    num_hs = [a.GetTotalNumHs(includeNeighbors=True) for a in graph_mol.GetAtoms()]
    if hydrogens:  # explicit H are atoms of the graph now; count them as neighbours
        num_hs = [sum(n.GetAtomicNum() == 1 for n in a.GetNeighbors()) for a in graph_mol.GetAtoms()]
    path = shortest_paths(graph_mol)
    bond_index, bond_feats, rot = bond_arrays(graph_mol, rotatable_bonds(graph_mol))
    ext_index, ext_type = extended_edges(path, bond_index, bond_feats)
    perms, capped = symmetric_permutations(graph_mol, max_permutations)
    perms = perms.numpy().astype(np.int16)
    return MolGraph(
        atomic_numbers=np.asarray([a.GetAtomicNum() for a in graph_mol.GetAtoms()], dtype=np.int16),
        atom_features=atom_features(graph_mol, num_hs), bond_index=bond_index, bond_features=bond_feats,
        rotatable=rot, extended_index=ext_index, extended_type=ext_type, path_length=path,
        conjugated_system=conjugated_systems(graph_mol), permutations=perms, symmetry_capped=capped)


def full_graph(path_length: np.ndarray, bond_index: np.ndarray, bond_features: np.ndarray,
               conjugated_system: np.ndarray):
    """ConfOpt's fully connected graph: every ordered pair i != j with its bond type (0 = no bond),
    shortest-path length (capped) and whether both atoms lie in the same conjugated system.

    Returns (index (2, N(N-1)) int64, bond_type, path_length, same_conjugated) numpy arrays.
    """
    n = path_length.shape[0]
    src, dst = np.nonzero(~np.eye(n, dtype=bool))
    bond_type = np.zeros((n, n), dtype=np.int8)
    bond_type[bond_index[0], bond_index[1]] = np.maximum(bond_features[:, 0], 1)  # 0 means "no bond" here
    conj = conjugated_system.astype(np.int32)
    same = (conj[src] == conj[dst]) & (conj[src] >= 0)
    return np.stack([src, dst]), bond_type[src, dst], path_length[src, dst], same
