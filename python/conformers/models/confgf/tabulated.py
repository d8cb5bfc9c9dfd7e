"""Exact tables for the sampler's edge features (inference only; the weights are frozen).

The distance MLP is Linear(1, H) -> ReLU -> Linear(H, H) of a scalar d: a piecewise-linear function
of d whose kinks are the H points d = -b1_c / w1_c. Between consecutive kinks the active set of the
ReLU is fixed, so f(d) = d A_k + B_k exactly, with A_k, B_k per interval k. The edge feature
f(d) * t_type and its product with the output MLP's first Linear (the edge half of it) are then
d (.)_k,type + (.)_k,type: two gathered rows instead of two (pairs x H x H) GEMMs per step. Same
function, same numbers up to rounding; tested against the network.
"""
from __future__ import annotations

import torch


class EdgeFeatureTables:
    def __init__(self, model, edge_types: torch.Tensor):
        first, _, second = model.distance_mlp
        w1, b1 = first.weight[:, 0], first.bias
        moving = w1 != 0
        self.kinks = torch.sort(-b1[moving] / w1[moving]).values.contiguous()
        k = self.kinks
        inside = torch.cat([k[:1] - 1, (k[1:] + k[:-1]) / 2, k[-1:] + 1]) if k.numel() else torch.zeros(1, dtype=w1.dtype)
        active = (inside[:, None] * w1 + b1 > 0).to(w1.dtype)                           # (K + 1, H)
        slope, offset = (active * w1) @ second.weight.T, (active * b1) @ second.weight.T + second.bias
        types, self.compact = torch.unique(edge_types.long().clamp(0, 99), return_inverse=True)
        embedding = model.edge_embedding(types)                                          # (n_types, H)
        self.n_types, hidden = types.numel(), embedding.shape[1]
        self.feature_slope = (slope[:, None] * embedding).reshape(-1, hidden)
        self.feature_offset = (offset[:, None] * embedding).reshape(-1, hidden)
        edge_half = model.output_mlp[0].weight[:, hidden:]                                # (H1, H)
        self.output_slope, self.output_offset = self.feature_slope @ edge_half.T, self.feature_offset @ edge_half.T

    def __call__(self, d: torch.Tensor, types: torch.Tensor):
        """(edge features f(d) * t (P, H), their product with the output layer's edge half (P, H1))
        for distances d (P,) of pairs with compact types ``types`` (P,)."""
        row = torch.searchsorted(self.kinks, d).mul_(self.n_types).add_(types)
        d, rows = d[:, None], lambda table: table.index_select(0, row)
        return (rows(self.feature_offset).addcmul_(d, rows(self.feature_slope)),
                rows(self.output_offset).addcmul_(d, rows(self.output_slope)))
