"""Typed views of a batch's graphs, what the models read: the bond graph (DMCG), the extended
graph by unordered pair (ConfVAE), and the pair graph of a directed edge list -- one representative
edge per unordered pair, so that features symmetric in (i, j) are computed once per pair (ConfGF's
score network, ConfVAE)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

import conformer_kernels as ck


class PairGraph(NamedTuple):
    """Directed edges (a ck.edge_csr, for the GIN) and one representative per unordered pair
    (first (P,), with ends i, j (P,)); inverse (E,) maps every edge to its pair."""
    csr: ck.EdgeCSR
    first: torch.Tensor
    inverse: torch.Tensor
    i: torch.Tensor
    j: torch.Tensor

    @classmethod
    def build(cls, index, n_atoms: int, pairs=None) -> "PairGraph":
        """pairs: None (found here), (first, inverse) from undirected_pairs, or False (every
        directed edge its own pair, as the released code computes)."""
        if isinstance(pairs, PairGraph):
            return pairs
        if pairs is False:
            first = inverse = torch.arange(index.shape[1], device=index.device)
        else:
            first, inverse = undirected_pairs(index, n_atoms) if pairs is None else pairs
        ends = index.index_select(1, first)
        return cls(ck.edge_csr(index, n_atoms), first, inverse, ends[0].contiguous(), ends[1].contiguous())

    def product(self, h):
        """h_i * h_j per pair (P, C)."""
        return h.index_select(0, self.i).mul_(h.index_select(0, self.j))


def undirected_pairs(index: torch.Tensor, n_atoms: int):
    """(first (P,), inverse (E,)): one directed edge standing for each unordered pair, and the pair
    of every edge."""
    key = torch.minimum(index[0], index[1]) * n_atoms + torch.maximum(index[0], index[1])
    unique, inverse = torch.unique(key, return_inverse=True)
    first = torch.empty(unique.numel(), dtype=torch.int64, device=index.device)
    first.scatter_(0, inverse, torch.arange(index.shape[1], device=index.device))
    return first, inverse


@dataclass(frozen=True)
class BondGraph:
    """The bond graph of a ragged batch of B molecules with N atoms in all: index (2, E) both
    directions of every bond (row 0 the atom receiving the message), batch (N,) molecule of each
    atom, edge_batch (E,) molecule of each edge, num_graphs B."""
    index: torch.Tensor
    batch: torch.Tensor
    edge_batch: torch.Tensor
    num_graphs: int

    @classmethod
    def of(cls, batch, index: torch.Tensor | None = None) -> "BondGraph":
        """The batch's bond graph, or the graph of another (2, E) edge index of it (extended_index)."""
        index = batch.bond_index if index is None else index
        return cls(index, batch.batch, batch.batch[index[0]], batch.num_graphs)


@dataclass(frozen=True)
class ExtendedPairGraph:
    """The extended graph (bonds, 2-hop and 3-hop pairs) of a ragged batch, by unordered pair:
    index (2, E) directed edges; atoms (N,) atomic numbers clamped to the embeddings' 0..99; batch
    (N,) molecule of each atom; num_graphs B; pairs the PairGraph (P unordered pairs); pair_batch
    (P,) molecule of each pair; pair_types (P,) each pair's edge type (bond type, 2-hop, 3-hop)."""
    index: torch.Tensor
    atoms: torch.Tensor
    batch: torch.Tensor
    num_graphs: int
    pairs: PairGraph
    pair_batch: torch.Tensor
    pair_types: torch.Tensor

    @classmethod
    def of(cls, batch) -> "ExtendedPairGraph":
        """The batch's extended edges, checked and sorted once (PairGraph.build)."""
        index = batch.extended_index
        pairs = PairGraph.build(index, batch.atomic_numbers.numel())
        return cls(index, batch.atomic_numbers.clamp(0, 99), batch.batch, batch.num_graphs, pairs,
                   batch.batch[pairs.i], batch.extended_type.long()[pairs.first])
