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
