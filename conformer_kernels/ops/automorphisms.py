"""Symmetric-atom permutations (graph automorphisms) of molecules, enumerated in C++."""
from __future__ import annotations

import warnings

import torch

from .. import _backend

# RDKit's pattern for conjugated terminal groups (MolAlign::details::symmetrizeTerminalAtoms, used
# by GetBestRMS with symmetrizeConjugatedTerminalGroups=True): a terminal O/N bonded to an atom that
# also carries another terminal O/N, one bond single and the other double. Matched atoms lose their
# formal charge and their bond becomes "single or double" (label -1, ck::kEitherBondLabel), so the
# carboxylate, nitro, amidine and guanidine partners become interchangeable.
_TERMINAL_SMARTS = "[O,N;D1;$([O,N;D1]-[*]=[O,N;D1]),$([O,N;D1]=[*]-[O,N;D1])]~[*]"

DEFAULT_MAX_COUNT = 100_000  # enumerating 31,104 (tetra-tert-butylmethane) takes ~20 ms
DEFAULT_MAX_STEPS = 5_000_000
DEFAULT_BOUND_STEPS = 1_000_000  # per pair of the branch and bound beyond the cap (GuidedSearch.exact)


class SymmetryCapWarning(UserWarning):
    """The automorphism enumeration stopped at its cap: the permutation table is incomplete."""


def _mol_graph(mol, symmetrize: bool):
    """(atom_labels (N,), bonds (E, 2), bond_labels (E,)) int64 tensors of an RDKit Mol, labelled
    in C++ (csrc/automorphisms/mol_pickle.h: label_mol_graph). The graph is read in C++ from the
    Mol's binary pickle, one RDKit call per molecule; pickles the reader does not know (query
    atoms or bonds, PDB monomer info, another RDKit pickle version) are read one atom and bond at
    a time through RDKit's API instead, into the same labels."""
    if mol.GetNumAtoms() == 0:
        raise ValueError("mol has no atoms")
    pairs = _terminal_pairs(mol) if symmetrize else _NO_PAIRS
    _why_not_read, graph = _backend._C().mol_graph_from_pickle(mol.ToBinary(_NO_CONFORMERS), _bond_order_labels(), pairs)
    if graph is not None:
        return graph
    return _backend._C().label_mol_graph(*_mol_fields_by_atom(mol), _bond_order_labels(), pairs)


_NO_PAIRS = torch.zeros(0, 2, dtype=torch.int64)
_NO_CONFORMERS = 0x20000  # RDKit PicklerOps::NoConformers: the pickle without coordinates


def _terminal_pairs(mol) -> torch.Tensor:
    """(M, 2) int64 (terminal atom, its neighbour) of the conjugated terminal groups."""
    matches = mol.GetSubstructMatches(_terminal_pattern(), uniquify=False)
    return torch.tensor(matches, dtype=torch.int64) if matches else _NO_PAIRS


def _mol_fields_by_atom(mol):
    """(atom_fields (N, 5), bonds (E, 2), bond_types (E,)) int64 tensors read through RDKit's API,
    one call per atom and bond property: element, formal charge, isotope, radical electrons, ring
    count (RDKit's ring info; 0 without it, RDKit's atom match skips the check then too)."""
    n = mol.GetNumAtoms()
    rings = [0] * n
    try:
        for ring in mol.GetRingInfo().AtomRings():
            for i in ring:
                rings[i] += 1
    except RuntimeError:  # ring info not initialised (an unsanitized mol)
        pass
    atoms = [(a.GetAtomicNum(), a.GetFormalCharge(), a.GetIsotope(), a.GetNumRadicalElectrons(), rings[a.GetIdx()])
             for a in mol.GetAtoms()]
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondType())) for b in mol.GetBonds()]
    table = torch.tensor(bonds, dtype=torch.int64).reshape(-1, 3)
    return torch.tensor(atoms, dtype=torch.int64), table[:, :2].contiguous(), table[:, 2].contiguous()


_ORDER_LABELS = None


def _bond_order_labels() -> torch.Tensor:
    """Twice RDKit's bond order for every BondType value (single 2, aromatic 3, double 4, triple 6;
    0 for ionic, hydrogen, zero-order bonds and types RDKit gives no order), indexed by type."""
    global _ORDER_LABELS
    if _ORDER_LABELS is None:
        from rdkit import Chem, rdBase

        mol = Chem.RWMol()
        mol.AddAtom(Chem.Atom(6))
        mol.AddAtom(Chem.Atom(6))
        mol.AddBond(0, 1, Chem.BondType.SINGLE)
        bond = mol.GetBondWithIdx(0)
        labels = torch.zeros(max(Chem.BondType.values) + 1, dtype=torch.int64)
        with rdBase.BlockLogs():
            for value, bond_type in Chem.BondType.values.items():
                bond.SetBondType(bond_type)
                try:
                    labels[value] = round(2 * bond.GetBondTypeAsDouble())
                except RuntimeError:  # RDKit has no order for it (three-centre, dative L/R, other)
                    pass
        _ORDER_LABELS = labels
    return _ORDER_LABELS


_PATTERN = None


def _terminal_pattern():
    global _PATTERN
    if _PATTERN is None:
        from rdkit import Chem

        _PATTERN = Chem.MolFromSmarts(_TERMINAL_SMARTS)
    return _PATTERN


def _plain_graph(graph):
    if isinstance(graph, dict):
        atoms, bonds, labels = graph["atom_labels"], graph["bonds"], graph.get("bond_labels")
    elif isinstance(graph, (tuple, list)) and len(graph) in (2, 3):
        atoms, bonds, labels = graph[0], graph[1], graph[2] if len(graph) == 3 else None
    else:
        raise ValueError("graph must be an RDKit Mol, a dict with atom_labels/bonds[/bond_labels], "
                         "or a tuple (atom_labels, bonds[, bond_labels])")
    atoms = torch.as_tensor(atoms, dtype=torch.int64).reshape(-1)
    bonds = torch.as_tensor(bonds, dtype=torch.int64)
    if bonds.numel() == 0:
        bonds = bonds.reshape(0, 2)
    if bonds.dim() != 2 or 2 not in bonds.shape:
        raise ValueError(f"bonds must have shape (E, 2) or (2, E), got {tuple(bonds.shape)}")
    if bonds.shape[1] != 2:
        bonds = bonds.t()
    labels = torch.zeros(bonds.shape[0], dtype=torch.int64) if labels is None else torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    if labels.numel() != bonds.shape[0]:
        raise ValueError(f"bond_labels must have one entry per bond ({bonds.shape[0]}), got {labels.numel()}")
    if atoms.numel() == 0:
        raise ValueError("graph has no atoms")
    # Accept both directions of each bond (edge_index style) by keeping one, checking labels agree.
    lo, hi = bonds.min(1).values, bonds.max(1).values
    key = lo * (atoms.numel() + 1) + hi
    uniq, inverse = torch.unique(key, return_inverse=True)
    first = torch.full((uniq.numel(),), -1, dtype=torch.int64).scatter_reduce(0, inverse, torch.arange(key.numel()), "amin", include_self=False)
    if not bool((labels[first][inverse] == labels).all()):
        raise ValueError("the two directions of a bond carry different bond_labels")
    return atoms, torch.stack([lo[first], hi[first]], 1), labels[first]


def labelled_graph(mol_or_graph, symmetrize: bool = True):
    """(atom_labels (N,), bonds (E, 2), bond_labels (E,)) int64: the labelled graph whose
    automorphisms :func:`automorphisms` enumerates (for a Mol, with the conjugated terminal groups
    symmetrized when asked); the same graph the reference enumerates."""
    if hasattr(mol_or_graph, "GetAtoms"):
        return _mol_graph(mol_or_graph, symmetrize)
    return _plain_graph(mol_or_graph)


def automorphisms(mol_or_graph, max_count: int = DEFAULT_MAX_COUNT, *,
                  symmetrize_conjugated_terminal_groups: bool = True,
                  max_steps: int = DEFAULT_MAX_STEPS) -> torch.Tensor:
    """Symmetric-atom permutations of a molecular graph, as a (P, N) int64 tensor (identity first).

    Row k maps atom i to atom ``perms[k, i]``; use it as ``X[..., perms[k], :]`` against ``Y``.

    Args:
        mol_or_graph: an RDKit Mol, its atoms as given (pass ``Chem.RemoveHs(mol)`` for heavy-atom
            RMSD), or a plain graph ``(atom_labels (N,), bonds (E, 2) or (2, E)[, bond_labels (E,)])``.
        max_count: stop after this many permutations (a ``SymmetryCapWarning`` says so; pass
            ``graph=mol`` to ``symmetric_rmsd``/``rmsd_matrix`` for the guided-search fallback).
        symmetrize_conjugated_terminal_groups: for a Mol, treat terminal O/N of conjugated groups
            (carboxylate, nitro, amidine, guanidine) as interchangeable, as RDKit's GetBestRMS does
            by default. False gives exactly ``mol.GetSubstructMatches(mol, uniquify=False,
            useChirality=False)``.
        max_steps: search-step budget, so that no graph can make the enumeration hang.
    """
    atoms, bonds, labels = labelled_graph(mol_or_graph, symmetrize_conjugated_terminal_groups)
    if max_count < 1:
        raise ValueError(f"max_count must be >= 1, got {max_count}")
    try:
        perms, hit_count, hit_steps = _backend._C().automorphisms(atoms, bonds.contiguous(), labels, int(max_count),
                                                                  int(max_steps), None)
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"invalid graph: {exc}") from exc
    if hit_count or hit_steps:
        reason = f"max_count={max_count}" if hit_count else f"max_steps={max_steps}"
        warnings.warn(f"automorphism enumeration stopped at {reason} with {perms.shape[0]} permutations; "
                      "symmetric RMSD over them is an upper bound: pass graph=mol to "
                      "symmetric_rmsd/rmsd_matrix for the guided-search fallback", SymmetryCapWarning, stacklevel=2)
    return perms


def symmetry_classes(mol_or_graph, *, symmetrize_conjugated_terminal_groups: bool = True) -> torch.Tensor:
    """(N,) int64 class of every atom by colour refinement: atoms that no automorphism can swap get
    different classes (the converse may fail on rare graphs): the candidate sets of the search."""
    atoms, bonds, labels = labelled_graph(mol_or_graph, symmetrize_conjugated_terminal_groups)
    return _backend._C().symmetry_classes(atoms, bonds.contiguous(), labels)


class GuidedSearch:
    """The geometry-guided automorphism search behind the capped-symmetry fallback.

    ``best_for(cost)`` returns one automorphism (N,), found greedily: atom v tries its images w in
    increasing cost[v, w]. It always preserves bonds, so RMSDs over it never undercut the truth.
    """

    def __init__(self, mol_or_graph, max_steps: int = DEFAULT_MAX_STEPS):
        atoms, bonds, labels = labelled_graph(mol_or_graph, True)
        self._graph = (atoms, bonds.contiguous(), labels)
        self._max_steps = int(max_steps)
        self.n_atoms = atoms.numel()

    def best_for(self, cost: torch.Tensor) -> torch.Tensor | None:
        cost = cost.detach().to("cpu", torch.float64).contiguous()
        perms, _, _ = _backend._C().automorphisms(*self._graph, 1, self._max_steps, cost)
        return perms[0] if perms.shape[0] else None

    def exact(self, X: torch.Tensor, Y: torch.Tensor, start: torch.Tensor, cost: torch.Tensor | None = None,
              max_steps: int = DEFAULT_BOUND_STEPS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per pair b of X, Y (B, N, 3): the automorphism minimising the aligned SSE of X[b][perm]
        onto Y[b], by branch and bound from the automorphism start[b] (B, N) (a partial map's bound:
        the aligned SSE of its mapped atoms alone), images tried in increasing cost[b] (B, N, N).
        Returns (perm (B, N), sse (B,) in A^2, exact (B,) bool): exact is False where the search
        stopped at max_steps candidate atoms, and sse is then the best found, an upper bound."""
        as64 = lambda t: t.detach().to("cpu", torch.float64).contiguous()  # noqa: E731
        return _backend._C().best_automorphisms(*self._graph, as64(X), as64(Y), start.to("cpu", torch.int64).contiguous(),
                                                int(max_steps), None if cost is None else as64(cost))
