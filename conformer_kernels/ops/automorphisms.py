"""Symmetric-atom permutations (graph automorphisms) of molecules, enumerated in C++."""
from __future__ import annotations

import warnings

import torch

from .. import _backend

# RDKit's pattern for conjugated terminal groups (MolAlign::details::symmetrizeTerminalAtoms, used
# by GetBestRMS with symmetrizeConjugatedTerminalGroups=True): a terminal O/N bonded to an atom that
# also carries another terminal O/N, one bond single and the other double. Matched atoms lose their
# formal charge and their bond becomes "single or double", so the carboxylate, nitro, amidine and
# guanidine partners become interchangeable.
_TERMINAL_SMARTS = "[O,N;D1;$([O,N;D1]-[*]=[O,N;D1]),$([O,N;D1]=[*]-[O,N;D1])]~[*]"
_SINGLE_OR_DOUBLE = -1  # bond label of a symmetrized terminal bond

DEFAULT_MAX_COUNT = 100_000  # enumerating 31,104 (tetra-tert-butylmethane) takes ~20 ms
DEFAULT_MAX_STEPS = 5_000_000
DEFAULT_BOUND_STEPS = 1_000_000  # per pair of the branch and bound beyond the cap (GuidedSearch.exact)


class SymmetryCapWarning(UserWarning):
    """The automorphism enumeration stopped at its cap: the permutation table is incomplete."""


def _mol_graph(mol, symmetrize: bool):
    """(atom_keys, bonds (E, 2) int64 array, bond_labels (E,) int64 array) of an RDKit Mol. Bonds
    come from one adjacency-matrix call (labelled by bond order: single, aromatic, double and triple
    differ; a dative bond counts as a single one), read and labelled on the E bonds only (not the
    N x N matrix) and handed to torch without Python lists; atoms from one accessor call per
    property (_atom_labels), the only per-atom Python left."""
    import numpy as np
    from rdkit import Chem

    n = mol.GetNumAtoms()
    if n == 0:
        raise ValueError("mol has no atoms")
    order = Chem.GetAdjacencyMatrix(mol, useBO=True)
    lo, hi = np.nonzero(order)
    upper = lo < hi
    lo, hi = lo[upper], hi[upper]
    if lo.size != mol.GetNumBonds():  # zero-order bonds (ionic, hydrogen): not in the matrix
        return _mol_graph_by_bond(mol, symmetrize)
    bond_label = np.rint(2 * order[lo, hi]).astype(np.int64)  # 2, 3 (aromatic), 4, 6
    charge_free = ()
    if symmetrize:
        matches = mol.GetSubstructMatches(_terminal_pattern(), uniquify=False)
        if matches:
            terminal, centre = np.asarray(matches, dtype=np.int64).T
            either = np.zeros_like(order, dtype=bool)
            either[terminal, centre] = either[centre, terminal] = True
            bond_label[either[lo, hi]] = _SINGLE_OR_DOUBLE
            charge_free = set(terminal.tolist())
    return _atom_labels(mol, charge_free), np.stack([lo, hi], 1), bond_label


def _atom_labels(mol, charge_free) -> list:
    """One label per atom. An atom of the query matches only atoms with the same element, charge
    (none for the charge_free atoms), isotope and radicals, and (RDKit's atom-match rule) no fewer
    rings; over a whole automorphism that is equality. GetAtomWithIdx, not GetAtoms(): RDKit's
    Python sequence wrapper costs more than the accessors."""
    n = mol.GetNumAtoms()
    rings = _ring_counts(mol, n)
    return _intern([(a.GetAtomicNum(), 0 if i in charge_free else a.GetFormalCharge(), a.GetIsotope(),
                     a.GetNumRadicalElectrons(), rings[i]) for i, a in enumerate(map(mol.GetAtomWithIdx, range(n)))])


def _ring_counts(mol, n):
    """Rings (RDKit's ring info) each atom is in, as a list."""
    import itertools

    import numpy as np

    try:
        rings = mol.GetRingInfo().AtomRings()
    except RuntimeError:  # ring info not initialised (unsanitized mol): RDKit skips the check too
        return [0] * n
    members = np.fromiter(itertools.chain.from_iterable(rings), dtype=np.int64)
    return np.bincount(members, minlength=n).tolist()


def _mol_graph_by_bond(mol, symmetrize: bool):
    """The same graph read one bond at a time, for molecules with bonds of order zero."""
    charge_free, either_bond = set(), set()
    if symmetrize:
        for terminal, centre in mol.GetSubstructMatches(_terminal_pattern(), uniquify=False):
            charge_free.add(terminal)
            either_bond.add(mol.GetBondBetweenAtoms(terminal, centre).GetIdx())
    bonds, bond_labels = [], []
    for b in mol.GetBonds():
        bonds.append((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
        bond_labels.append(_SINGLE_OR_DOUBLE if b.GetIdx() in either_bond else int(b.GetBondType()))
    return _atom_labels(mol, charge_free), bonds, bond_labels


_PATTERN = None


def _terminal_pattern():
    global _PATTERN
    if _PATTERN is None:
        from rdkit import Chem

        _PATTERN = Chem.MolFromSmarts(_TERMINAL_SMARTS)
    return _PATTERN


def _intern(keys):
    index = {}
    return [index.setdefault(k, len(index)) for k in keys]


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
        import numpy as np

        atoms, bonds, labels = _mol_graph(mol_or_graph, symmetrize)
        return (torch.tensor(atoms, dtype=torch.int64),
                torch.from_numpy(np.asarray(bonds, dtype=np.int64).reshape(-1, 2)),
                torch.from_numpy(np.asarray(labels, dtype=np.int64).reshape(-1)))
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
