"""ConfGF's Algorithm 1, annealed Langevin dynamics on the coordinates, for many samples of many
molecules in one batch.

At noise level sigma_i (i = 1..L) every step is
    s_d = s(d(x), sigma_i)                                (the score network, per edge)
    s_x_i = sum_j s_d,ij (x_i - x_j) / d_ij               (chain rule: ck.vector_aggregation)
    s_x_i <- s_x_i * min(1, clip / |s_x_i|)               (the released code's per-atom clip)
    x <- x + alpha_i s_x + sqrt(2 alpha_i) z,   alpha_i = eps sigma_i^2 / sigma_L^2.
Ours keeps the loop lean: edges sorted by destination once, the atom and edge-type embeddings
computed once, the network's edge work done once per unordered pair, the distance MLP and the
edge half of the output layer read from exact piecewise-linear tables, the GIN's sums by
ck.gine_aggregate, its GEMMs in bfloat16 where the hardware has it (tabulated.FrozenScoreNetwork),
evaluated in chunks on CPU, the chain rule fused (no (E, 3) tensor), the position update in place
on preallocated buffers, no autograd. ``plain_langevin`` is the same algorithm as the released code
runs it -- one molecule at a time, everything recomputed every step, the chain rule as index ops --
the benchmark's peer and the tests' oracle.
"""
from __future__ import annotations

import math

import torch

import conformer_kernels as ck

from ..base import check_time_budget
from ..common import PairGraph
from .tabulated import FrozenScoreNetwork


CHUNK_EDGES_CPU = 4096  # edges per network evaluation on CPU: fewer, larger GEMMs; the GINE kernel keeps no (E, hidden) tensor


class LangevinSampler:
    """The sampler over one batch. On CPU the network is evaluated chunk by chunk (whole samples,
    about CHUNK_EDGES_CPU edges each; measured 5% faster than one pass); on CUDA (or
    chunk_edges=0) in one pass. precision: FrozenScoreNetwork's ("auto", "full", "bfloat16"),
    default the model's config."""

    def __init__(self, model, batch, steps_per_level: int | None = None, chunk_edges: int | None = None,
                 precision: str | None = None):
        self.model = model
        self.steps = int(steps_per_level or model.config["steps_per_level"])
        precision = precision or model.config.get("precision", "auto")
        self.n_atoms = batch.atomic_numbers.numel()
        order = torch.argsort(batch.extended_index[0], stable=True)
        self.csr = ck.edge_csr(batch.extended_index[:, order].contiguous(), self.n_atoms)  # checked once
        self.index = self.csr.index
        self.n_edges = self.index.shape[1]
        if chunk_edges is None:
            chunk_edges = 0 if self.index.is_cuda else CHUNK_EDGES_CPU
        row_ptr = self.csr.row_ptr.cpu()
        types = batch.extended_type[order]
        self.chunks = []
        with torch.inference_mode():
            self.network = FrozenScoreNetwork(model, types, precision)
            atoms = model.graph_constants(batch.atomic_numbers, types)[0]
            for lo, hi in _sample_ranges(batch.ptr.tolist(), row_ptr, chunk_edges):
                e_lo, e_hi = int(row_ptr[lo]), int(row_ptr[hi])
                graph = PairGraph.build(self.index[:, e_lo:e_hi] - lo, hi - lo)
                pair_types = self.network.tables.compact[e_lo:e_hi][graph.first]
                self.chunks.append((lo, hi, e_lo, e_hi, graph, atoms[lo:hi], pair_types))

    def schedule(self):
        """(1 / sigma_i, alpha_i) per level."""
        sigmas, c = self.model.sigmas, self.model.config
        return [(1.0 / float(s), c["step_lr"] * float(s / sigmas[-1]) ** 2) for s in sigmas]

    def edge_scores(self, x, inv_sigma, out):
        for lo, hi, e_lo, e_hi, graph, atoms, pair_types in self.chunks:
            xs = x[lo:hi]
            d = torch.linalg.vector_norm(xs.index_select(0, graph.i) - xs.index_select(0, graph.j), dim=1)
            out[e_lo:e_hi] = self.network(atoms, graph, d, inv_sigma, pair_types)
        return out

    @torch.inference_mode()
    def run(self, generator=None, x=None) -> torch.Tensor:
        """Coordinates (A, 3) after L x T steps, from N(0, I) (or the given x)."""
        self.model.eval()
        dtype, device = self.model.sigmas.dtype, self.index.device  # generator: one on this device
        x = torch.randn(self.n_atoms, 3, generator=generator, dtype=dtype, device=device) if x is None else x.clone()
        noise, norm = torch.empty_like(x), torch.empty(self.n_atoms, 1, dtype=x.dtype, device=device)
        scores, clip = torch.empty(self.n_edges, dtype=x.dtype, device=device), self.model.config["clip"]
        for inv_sigma, alpha in self.schedule():
            for _ in range(self.steps):
                check_time_budget()
                score = ck.vector_aggregation(x, self.csr, self.edge_scores(x, inv_sigma, scores), normalize=True)
                torch.linalg.vector_norm(score, dim=1, keepdim=True, out=norm)
                score.mul_(norm.clamp_(min=clip).reciprocal_().mul_(clip))
                torch.randn(noise.shape, generator=generator, out=noise)
                x.add_(score, alpha=alpha).add_(noise, alpha=math.sqrt(2 * alpha))
        return x


def _sample_ranges(ptr, row_ptr, chunk_edges):
    """Atom ranges [lo, hi) of whole samples with about chunk_edges edges each (0: one range)."""
    if not chunk_edges:
        return [(ptr[0], ptr[-1])]
    ranges, lo = [], ptr[0]
    for b in range(1, len(ptr)):
        if int(row_ptr[ptr[b]] - row_ptr[lo]) >= chunk_edges or b == len(ptr) - 1:
            ranges.append((lo, ptr[b]))
            lo = ptr[b]
    return ranges


@torch.no_grad()
@ck.use_reference()
def plain_langevin(model, batch, steps_per_level: int, generator=None) -> torch.Tensor:
    """The released code's sampler in plain PyTorch (conformer_kernels on their reference ops):
    molecule by molecule (its copies together), the embeddings, the network on every directed edge
    and the chain rule recomputed with index ops every step."""
    model.eval()
    sigmas, c = model.sigmas, model.config
    out = []
    molecule_of_copy = batch.index.tolist()
    starts = [b for b in range(batch.num_graphs) if b == 0 or molecule_of_copy[b] != molecule_of_copy[b - 1]]
    for s, e in zip(starts, starts[1:] + [batch.num_graphs]):
        lo, hi = int(batch.ptr[s]), int(batch.ptr[e])
        keep = (batch.extended_index[0] >= lo) & (batch.extended_index[0] < hi)
        index, types = batch.extended_index[:, keep] - lo, batch.extended_type[keep]
        numbers = batch.atomic_numbers[lo:hi]
        x = torch.randn(hi - lo, 3, generator=generator, dtype=sigmas.dtype, device=sigmas.device)
        for sigma in sigmas:
            alpha = c["step_lr"] * float(sigma / sigmas[-1]) ** 2
            for _ in range(steps_per_level):
                r = x[index[0]] - x[index[1]]
                d = r.norm(dim=1)
                scores = model.edge_scores(model.graph_constants(numbers, types), index, d, 1.0 / sigma, False)
                score = torch.zeros_like(x).index_add_(0, index[0], scores[:, None] * r / d[:, None])
                norm = score.norm(dim=1, keepdim=True)
                score = torch.where(norm > c["clip"], score / norm * c["clip"], score)
                x = x + alpha * score + math.sqrt(2 * alpha) * torch.randn(x.shape, generator=generator, dtype=x.dtype,
                                                                          device=x.device)
        out.append(x)
    return torch.cat(out)
