"""The pair graph of a directed edge list: one representative edge per unordered pair, so that
features symmetric in (i, j) are computed once per pair (ConfGF's score network, ConfVAE)."""
from __future__ import annotations

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
