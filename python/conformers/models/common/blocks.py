"""Network blocks shared by ConfGF, ConfVAE and DMCG."""
from __future__ import annotations

import torch
from torch import nn

import conformer_kernels as ck


def mlp(*sizes: int) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them (none after the last)."""
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class GINEConv(nn.Module):
    """PyG's GINEConv (eps = 0): MLP(h_i + sum_j relu(h_j + e_ij)), the sum fused by
    conformer_kernels.gine_aggregate (no (E, C) messages)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.mlp = mlp(hidden, hidden, hidden)

    def forward(self, h, index, e, e_index=None):
        """h (N, C) atom states; index a (2, E) edge list (row 0 the receiving atom) or a
        ck.edge_csr of it; e (E or R, C) edge features, row e_index[k] for edge k when given.
        Returns (N, C)."""
        return self.mlp(ck.gine_aggregate(h, index, e, e_index))


def segment_mean(values: torch.Tensor, segment: torch.Tensor, count: int) -> torch.Tensor:
    """(count, C) mean of the rows of ``values`` (M, C) per segment id ``segment`` (M,) (empty
    segments give 0)."""
    total = torch.zeros(count, values.shape[1], dtype=values.dtype, device=values.device).index_add(0, segment, values)
    size = torch.zeros(count, dtype=values.dtype, device=values.device).index_add(
        0, segment, torch.ones_like(values[:, 0]))
    return total / size.clamp_min(1.0)[:, None]
