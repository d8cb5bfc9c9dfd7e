"""The score network frozen for sampling: exact tables for its edge features, its GEMMs in a chosen
precision (inference only).

The distance MLP is Linear(1, H) -> ReLU -> Linear(H, H) of a scalar d: a piecewise-linear function
of d whose kinks are the H points d = -b1_c / w1_c. Between consecutive kinks the active set of the
ReLU is fixed, so f(d) = d A_k + B_k exactly, with A_k, B_k per interval k. The edge feature
f(d) * t_type and its product with the output MLP's first Linear (the edge half of it) are then
d (.)_k,type + (.)_k,type: two gathered rows instead of two (pairs x H x H) GEMMs per step. Same
function, same numbers up to rounding; tested against the network.
"""
from __future__ import annotations

import torch

import conformer_kernels as ck
from conformers._device import native_bfloat16


class EdgeFeatureTables:
    """Tables of the edge features and of their product with the output layer's edge half (plus
    that layer's bias with ``output_bias``, so the sampler adds it for free)."""

    def __init__(self, model, edge_types: torch.Tensor, output_bias: bool = False):
        first, _, second = model.distance_mlp
        w1, b1 = first.weight[:, 0], first.bias
        moving = w1 != 0
        self.kinks = torch.sort(-b1[moving] / w1[moving]).values.contiguous()
        k = self.kinks
        inside = torch.cat([k[:1] - 1, (k[1:] + k[:-1]) / 2, k[-1:] + 1]) if k.numel() else torch.zeros(1, dtype=w1.dtype, device=w1.device)
        active = (inside[:, None] * w1 + b1 > 0).to(w1.dtype)                           # (K + 1, H)
        slope, offset = (active * w1) @ second.weight.T, (active * b1) @ second.weight.T + second.bias
        types, self.compact = torch.unique(edge_types.long().clamp(0, 99), return_inverse=True)
        embedding = model.edge_embedding(types)                                          # (n_types, H)
        self.n_types, hidden = types.numel(), embedding.shape[1]
        self.feature_slope = (slope[:, None] * embedding).reshape(-1, hidden)
        self.feature_offset = (offset[:, None] * embedding).reshape(-1, hidden)
        edge_half = model.output_mlp[0].weight[:, hidden:]                                # (H1, H)
        self.output_slope, self.output_offset = self.feature_slope @ edge_half.T, self.feature_offset @ edge_half.T
        if output_bias:
            self.output_offset = self.output_offset + model.output_mlp[0].bias

    def __call__(self, d: torch.Tensor, types: torch.Tensor):
        """(edge features f(d) * t (P, H), their product with the output layer's edge half (P, H1))
        for distances d (P,) of pairs with compact types ``types`` (P,)."""
        row = torch.searchsorted(self.kinks, d).mul_(self.n_types).add_(types)
        d, rows = d[:, None], lambda table: table.index_select(0, row)
        return (rows(self.feature_offset).addcmul_(d, rows(self.feature_slope)),
                rows(self.output_offset).addcmul_(d, rows(self.output_slope)))


PRECISIONS = ("auto", "full", "bfloat16")




class FrozenScoreNetwork:
    """ConfGF's score network for the sampler's inner loop, the same function as
    ConfGF.edge_scores: the distance MLP and the edge half of the output layer read from
    EdgeFeatureTables (the output layer's bias folded into them), the GIN's neighbourhood sums by
    ck.gine_aggregate, every per-pair quantity computed once per unordered pair.

    precision "full" keeps the network's dtype and numbers (up to rounding). "bfloat16" runs the
    hidden GEMMs (the GIN MLPs and the output MLP, ~75% of a step) on bfloat16 inputs and weights
    with float32 accumulation -- 4x faster GEMMs on CPUs with AVX512-BF16/AMX and on tensor cores,
    about 0.3% relative error per layer -- and keeps the rest (sums, residuals, tables, scores) in
    float32. "auto" (the default): bfloat16 for a float32 model where the hardware runs it
    natively, else full. On the repository's QM9 test set COV/MAT with bfloat16 equal full
    precision's (benchmarks/README.md).
    """

    def __init__(self, model, edge_types: torch.Tensor, precision: str = "full"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.dtype = model.output_mlp[0].weight.dtype
        if precision == "auto":  # a float64 model asked for float64 numbers
            fast = self.dtype == torch.float32 and native_bfloat16(model.output_mlp[0].weight.device)
            precision = "bfloat16" if fast else "full"
        self.precision = precision
        dtype = self.dtype if precision == "full" else torch.bfloat16
        self.tables = EdgeFeatureTables(model, edge_types, output_bias=True)
        first = model.output_mlp[0]
        linears = lambda seq: [(m.weight.to(dtype), m.bias.to(dtype)) for m in seq if isinstance(m, torch.nn.Linear)]
        self.convs = [linears(conv.mlp) for conv in model.convs]
        hidden = model.config["hidden"]
        self.output_first = first.weight[:, :hidden].to(dtype)
        self.output_rest = linears(model.output_mlp[1:])

    def __call__(self, atoms, graph, d_pair, inv_sigma, pair_types):
        """Scores (E,) of a PairGraph's edges given the atoms' embeddings and the pair distances."""
        e_pair, e_output = self.tables(d_pair, pair_types)
        h = atoms
        for k, layers in enumerate(self.convs):
            out = _mlp(ck.gine_aggregate(h, graph.csr, e_pair, graph.inverse), layers).to(self.dtype)
            h = h + (out.relu_() if k < len(self.convs) - 1 else out)
        product = graph.product(h).to(self.output_first.dtype)
        hidden = torch.mm(product, self.output_first.T).to(self.dtype).add_(e_output).relu_()
        score = _mlp(hidden, self.output_rest).to(self.dtype).squeeze(1)
        return score.index_select(0, graph.inverse).mul_(inv_sigma)


def _mlp(x, layers):
    """Linear, ReLU, ..., Linear in the weights' dtype."""
    for k, (weight, bias) in enumerate(layers):
        x = torch.nn.functional.linear(x.to(weight.dtype), weight, bias)
        if k < len(layers) - 1:
            x = x.relu_()
    return x
