"""DMCG's GN block (Zhu et al. 2022, eq. 3-7) on the bond graph.

One block: geometry enters the atom and bond states additively (eq. 3; the latent z too, in the
decoder); bonds are updated from both atoms, the bond and the molecule (eq. 4); atoms aggregate
their bonds with GATv2 attention -- conformer_kernels.segment_softmax_aggregate does the
per-atom softmax and weighted sum, fused -- and are updated (eq. 5); then the molecule (eq. 6)
and, optionally, the coordinates: a per-atom prediction, re-centred per molecule, added to the
previous coordinates (eq. 7, residual as the released code). MLPs are Linear-BatchNorm-ReLU-Linear
and every residual update goes through dropout, as the released code's --use-bn --dropout 0.1.
"""
from __future__ import annotations

import torch
from torch import nn

import conformer_kernels as ck

from ..common import segment_mean


class MLP(nn.Sequential):
    """Linear -> BatchNorm -> ReLU -> Linear (the released code's MLP with --use-bn)."""

    def __init__(self, n_in: int, hidden: int, n_out: int):
        super().__init__(nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, n_out))


class GNBlock(nn.Module):
    """One DMCG block (eq. 3-6): atoms, bonds and the molecule state updated from the current
    coordinates and the latent; GATv2 attention over bonds (ck.segment_softmax_aggregate)."""

    def __init__(self, dim: int, mlp_hidden: int, heads: int, dropout: float, update_global: bool = True):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.position_mlp, self.distance_mlp = MLP(3, dim, dim), MLP(1, dim, dim)
        self.bond_mlp = MLP(4 * dim, mlp_hidden, dim)
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(2 * dim, dim), nn.Linear(2 * dim, dim)
        self.attention = nn.Parameter(torch.randn(heads, self.head_dim) / self.head_dim ** 0.5)  # a of eq. 5
        self.atom_mlp = MLP(3 * dim, mlp_hidden, dim)
        # a stack's last block feeds no later block: its molecule update would be dead weights
        self.global_mlp = MLP(3 * dim, mlp_hidden, dim) if update_global else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph, h, e, u, x, z=None):
        """graph: the BondGraph; h (N, dim) atoms, e (E, dim) edges, u (B, dim) molecules, x (N, 3)
        coordinates (A), z (B, dim) latent or None. Returns the updated (h, e, u)."""
        index, batch, edge_batch, B = graph.index, graph.batch, graph.edge_batch, graph.num_graphs
        i, j = index
        h_bar = h + self.position_mlp(x) + (0 if z is None else z[batch])                       # eq. 3
        e_bar = e + self.distance_mlp((x[i] - x[j]).norm(dim=1, keepdim=True))
        e = e + self.dropout(self.bond_mlp(torch.cat([h_bar[i], h_bar[j], e_bar, u[edge_batch]], 1)))  # eq. 4
        # GATv2 (eq. 5): score a^T LeakyReLU(W_q h_i + W_k [h_j, h_ij]), value W_v [h_ij, h_j]
        H, D = self.heads, self.head_dim
        pre = self.query(h_bar)[i] + self.key(torch.cat([h_bar[j], e], 1))
        scores = (nn.functional.leaky_relu(pre, 0.2).view(-1, H, D) * self.attention).sum(-1)
        values = self.value(torch.cat([e, h_bar[j]], 1)).view(-1, H, D)
        message = ck.segment_softmax_aggregate(scores, values, index, h.shape[0]).reshape(h.shape[0], -1)
        h = h + self.dropout(self.atom_mlp(torch.cat([h_bar, message, u[batch]], 1)))
        if self.global_mlp is not None:                                                          # eq. 6
            pooled = [segment_mean(h, batch, B), segment_mean(e, edge_batch, B), u]
            u = u + self.dropout(self.global_mlp(torch.cat(pooled, 1)))
        return h, e, u


def recentred_update(head: nn.Module, h: torch.Tensor, x: torch.Tensor, batch: torch.Tensor, B: int) -> torch.Tensor:
    """Eq. 7: R_bar = head(h), centred per molecule, added to the previous coordinates."""
    step = head(h)
    return x + step - segment_mean(step, batch, B)[batch]
