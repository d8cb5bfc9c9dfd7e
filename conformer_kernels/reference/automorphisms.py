"""Automorphisms by networkx's VF2 matcher: the independent oracle of the C++ enumeration."""
from __future__ import annotations

import torch


def automorphisms_vf2(atom_labels, bonds, bond_labels) -> torch.Tensor:
    """All label- and bond-preserving permutations, (P, N), rows sorted lexicographically."""
    import networkx as nx
    from networkx.algorithms import isomorphism

    g = nx.Graph()
    for i, label in enumerate(torch.as_tensor(atom_labels).tolist()):
        g.add_node(i, label=label)
    for (a, b), label in zip(torch.as_tensor(bonds).tolist(), torch.as_tensor(bond_labels).tolist()):
        g.add_edge(a, b, label=label)
    matcher = isomorphism.GraphMatcher(g, g, node_match=lambda x, y: x["label"] == y["label"],
                                       edge_match=lambda x, y: x["label"] == y["label"])
    n = g.number_of_nodes()
    rows = sorted(tuple(m[i] for i in range(n)) for m in matcher.isomorphisms_iter())
    return torch.tensor(rows, dtype=torch.int64).reshape(len(rows), n)


def automorphisms(mol_or_graph, max_count: int = 10_000, *, symmetrize_conjugated_terminal_groups: bool = True,
                  max_steps: int = 5_000_000) -> torch.Tensor:
    """The spec of ck.automorphisms, same arguments: every automorphism of the same labelled graph
    (ops.automorphisms.labelled_graph) by VF2, rows sorted (the identity first), the first
    max_count of them. max_steps bounds the C++ search only (VF2 runs to the end)."""
    from ..ops.automorphisms import labelled_graph

    if max_count < 1:
        raise ValueError(f"max_count must be >= 1, got {max_count}")
    return automorphisms_vf2(*labelled_graph(mol_or_graph, symmetrize_conjugated_terminal_groups))[:max_count]


def symmetry_classes(mol_or_graph, *, symmetrize_conjugated_terminal_groups: bool = True) -> torch.Tensor:
    """The spec of ck.symmetry_classes, same arguments: (N,) int64 classes by colour refinement
    (1-dimensional Weisfeiler-Lehman on atom labels and labelled bonds, to its fixed point),
    numbered in order of first appearance. Compare partitions, not numbers, with the op."""
    from ..ops.automorphisms import labelled_graph

    atoms, bonds, labels = labelled_graph(mol_or_graph, symmetrize_conjugated_terminal_groups)
    n = atoms.numel()
    neighbours = [[] for _ in range(n)]
    for (a, b), label in zip(bonds.tolist(), labels.tolist()):
        neighbours[a].append((label, b))
        neighbours[b].append((label, a))
    colour = atoms.tolist()
    while True:
        signature = [(colour[i], tuple(sorted((label, colour[j]) for label, j in neighbours[i]))) for i in range(n)]
        numbers: dict = {}
        refined = [numbers.setdefault(s, len(numbers)) for s in signature]
        if len(numbers) == len(set(colour)):
            return torch.tensor(refined, dtype=torch.int64)
        colour = refined
