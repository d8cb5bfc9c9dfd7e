"""ConfGF: a noise-conditional score network on the interatomic distances of the extended graph
(bonds, 2-hop and 3-hop pairs), trained by denoising score matching.

Network (the paper, and its released code where the paper is silent): node embedding of the
atomic number; edge embedding of the edge type (bond type, 2-hop, 3-hop) times MLP(d_ij); a GIN
(GINE messages relu(h_j + e_ij), sum aggregation; 4 layers, hidden 256, ReLU between layers,
residual connections); edge score MLP([h_i * h_j, e_ij]) -> 256 -> 128 -> 1, divided by sigma.

Training: per molecule one of 50 geometric noise levels sigma (10 -> 0.01); perturbed distances
d~ = d + sigma eps with the same draw for (i, j) and (j, i); target -(d~ - d) / sigma^2; loss
0.5 sigma^2 (s(d~, sigma) - target)^2 summed over the molecule's edges (anneal power 2).
Sampling: annealed Langevin dynamics on the coordinates (sampler.py).

Models the atoms of the cache it is trained on: the repository's nci-xtb caches are heavy-atom
(the evaluation's RMSD is heavy-atom); prepare a cache with --hydrogens for the released code's
all-atom setting.
"""
from __future__ import annotations

import math
import os

import torch
from torch import nn

from ..base import SHIPPED, ConformerModel, DataSpec, module_device, register, sample_copies
from ..common import GINEConv, PairGraph, mlp, undirected_pairs


class ConfGF(ConformerModel, nn.Module):
    """ConfGF's noise-conditional score network on the extended graph's distances (module
    docstring), trained by denoising score matching, sampled by annealed Langevin dynamics."""

    name = "confgf"
    trainable = True

    def __init__(self, hidden: int = 256, convs: int = 4, sigma_begin: float = 10.0, sigma_end: float = 0.01,
                 levels: int = 50, steps_per_level: int = 100, step_lr: float = 2.4e-6, clip: float = 1000.0,
                 precision: str = "auto"):
        nn.Module.__init__(self)
        ConformerModel.__init__(self, hidden=hidden, convs=convs, sigma_begin=sigma_begin, sigma_end=sigma_end,
                                levels=levels, steps_per_level=steps_per_level, step_lr=step_lr, clip=clip,
                                precision=precision)
        self.node_embedding, self.edge_embedding = nn.Embedding(100, hidden), nn.Embedding(100, hidden)
        self.distance_mlp = mlp(1, hidden, hidden)
        self.convs = nn.ModuleList(GINEConv(hidden) for _ in range(convs))
        self.output_mlp = mlp(2 * hidden, hidden, hidden // 2, 1)
        sigmas = torch.exp(torch.linspace(math.log(sigma_begin), math.log(sigma_end), levels))
        self.register_buffer("sigmas", sigmas, persistent=False)

    @property
    def data_spec(self) -> DataSpec:
        return DataSpec(edges=("extended",), mode="conformer", selection="top_k", k=5)  # ConfGF keeps the top 5

    # --- the score network -------------------------------------------------------------------------
    def graph_constants(self, atomic_numbers, edge_type):
        """What does not change during sampling: atom and edge-type embeddings."""
        return self.node_embedding(atomic_numbers.clamp(0, 99)), self.edge_embedding(edge_type.long().clamp(0, 99))

    def edge_scores(self, constants, index, d, inv_sigma, pairs=None):
        """s(d, sigma) per edge (E,): d (E,), inv_sigma a scalar or (E,). The edge features and the
        output depend on the pair only (h_i * h_j, d_ij and the type are symmetric), so they are
        computed once per unordered pair -- ``pairs`` = undirected_pairs(index, N) -- and shared by
        (i, j) and (j, i): half the edge work, the same function. ``pairs=False`` computes every
        directed edge, as the released code does."""
        h, edge_type = constants
        graph = PairGraph.build(index, h.shape[0], pairs)
        e_pair = self.distance_mlp(d.index_select(0, graph.first)[:, None]) * edge_type.index_select(0, graph.first)
        h = self._gin(h, graph, e_pair)
        out = self.output_mlp(torch.cat([graph.product(h), e_pair], 1)).squeeze(1)
        return out.index_select(0, graph.inverse) * inv_sigma

    def _gin(self, h, graph, e_pair):
        """The GIN over the edges, each reading its pair's feature row; residual, ReLU between layers."""
        for k, conv in enumerate(self.convs):
            out = conv(h, graph.csr, e_pair, graph.inverse)
            h = h + (torch.relu_(out) if k < len(self.convs) - 1 else out)
        return h

    # --- training: denoising score matching on distances --------------------------------------------
    def forward(self, batch) -> dict:
        """Denoising score-matching loss of a conformer batch (reads extended_index, extended_type,
        atomic_numbers, pos in A, ptr): one noise level per molecule. {"loss": mean per molecule}."""
        index, B = batch.extended_index, batch.num_graphs
        edge_graph = batch.batch[index[0]]
        level = torch.randint(len(self.sigmas), (B,), device=index.device)
        sigma = self.sigmas[level][edge_graph]                                                   # (E,)
        d = (batch.pos[index[0]] - batch.pos[index[1]]).norm(dim=1)
        noise = symmetric_noise(index, batch.atomic_numbers.numel())
        perturbed = d + sigma * noise
        target = -(perturbed - d) / sigma ** 2
        scores = self.edge_scores(self.graph_constants(batch.atomic_numbers, batch.extended_type), index, perturbed,
                                  1.0 / sigma)
        per_edge = 0.5 * (scores - target).square() * sigma ** 2
        loss = torch.zeros(B, dtype=d.dtype, device=d.device).index_add(0, edge_graph, per_edge).mean()
        return {"loss": loss}

    def validation_step(self, batch) -> dict:
        """The training loss on a validation batch (the engine fixes the random stream)."""
        return self.forward(batch)

    # --- inference ----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, mols, n, seed: int = 0, steps_per_level: int | None = None) -> list:
        """Per molecule, the heavy-atom molecule with n conformers (A) from annealed Langevin
        dynamics (all samples of all molecules in one batch), or the exception that stopped it."""
        from .sampler import LangevinSampler

        self.eval()
        device = module_device(self)
        generator = torch.Generator(device=device).manual_seed(seed)  # Langevin noise is drawn where x lives
        return sample_copies(mols, n, ("extended",), lambda batch: LangevinSampler(
            self, batch, steps_per_level=steps_per_level).run(generator), device=device, timeout=self.timeout)


def symmetric_noise(index: torch.Tensor, n_atoms: int, generator=None) -> torch.Tensor:
    """One N(0, 1) draw per unordered pair, shared by (i, j) and (j, i) (the released noise_type
    'symmetry')."""
    first, inverse = undirected_pairs(index, n_atoms)
    return torch.randn(first.numel(), generator=generator).to(index.device)[inverse]


register("confgf", ConfGF, "ConfGF: distance score matching + annealed Langevin dynamics (50 levels; the shipped "
         "weights sample 10 steps per level, the paper 100: --model-set steps_per_level=100); trained on QM9 DFT + "
         "GFN2-xTB ensembles, far below ETKDG here (checkpoints/confgf_qm9.json)",
         checkpoint=os.path.join(SHIPPED, "confgf_qm9.pt"))
