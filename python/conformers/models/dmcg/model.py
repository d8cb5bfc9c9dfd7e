"""DMCG: direct molecular conformation generation (Zhu et al., TMLR 2022).

Three stacks of GN blocks on the bond graph (see layers.py):
- phi_2D (prior): from uniform [-1, 1] coordinates, predicts R^(0) and the atom, bond and molecule
  states the decoder starts from (the released code's --reuse-prior);
- phi_3D (encoder): reads the reference conformation (randomly rotated in training), without
  coordinate updates, and gives mu, log sigma of q(z | R, G): one global latent per molecule; on
  the bond graph (the paper) or, with encoder_edges="extended", on bonds and 2- and 3-hop pairs,
  whose distances carry the angles and torsions (the released code's --extend-edge);
- phi_dec: z is added to the atom states in every block (eq. 3), one coordinate head shared by
  its blocks (--shared-output), residual coordinate updates re-centred per molecule (eq. 7).

Loss (eq. 2 and 8; the released compute_loss): l(R^(0)) + l(R^(L)) + lambda sum_{l<L} l(R^(l))
+ beta KL(q || N(0, I)), l = conformer_kernels.rtp_loss over the molecule's precomputed
automorphisms with metric="mean_distance" (mean per-atom distance at the optimal permutation and
rigid motion, no gradient through them); ``permutation_loss=False`` is the paper's "No l_P"
ablation (identity permutation only). beta rises on a cosine from beta_min to beta_max over the
run (the released Cosinebeta); the trainer reports the run's progress through
``set_training_progress``. Sampling: z ~ N(0, I) scaled by 1.2 (the README's --sample-beta), one
pass of phi_2D and phi_dec over many samples of many molecules batched together.
"""
from __future__ import annotations

import math
import os
import time

import torch
from torch import nn

import conformer_kernels as ck
from conformers.data import features

from ..base import SHIPPED, ConformerModel, DataSpec, check_time_budget, module_device, register, sample_copies
from ..common import BondGraph, bond_angles, segment_mean
from ..common import local_geometry_errors as common_local_geometry_errors
from .layers import MLP, GNBlock, recentred_update

MAX_ATOMS_PER_BATCH = 4096  # sampling: copies of molecules are batched up to this many atoms


class Stack(nn.Module):
    """Embeddings (optional), GN blocks and one coordinate head shared by the blocks."""

    def __init__(self, dim, mlp_hidden, layers, heads, dropout, embed: bool, head: bool, final_global: bool = True,
                 edge_types: int = 0):
        """edge_types: embed edges by their type alone (the extended graph's bond types and 2-, 3-hop
        codes, 0..edge_types-1) instead of by bond features."""
        super().__init__()
        if embed:
            self.atom_embedding = nn.ModuleList(nn.Embedding(n, dim) for n in features.ATOM_FEATURES.values())
            if edge_types:
                self.edge_type_embedding = nn.Embedding(edge_types, dim)
            else:
                self.bond_embedding = nn.ModuleList(nn.Embedding(n, dim) for n in features.BOND_FEATURES.values())
            self.global_state = nn.Parameter(torch.zeros(dim))
        self.blocks = nn.ModuleList(GNBlock(dim, mlp_hidden, heads, dropout, update_global=final_global or k < layers - 1)
                                    for k in range(layers))
        self.head = MLP(dim, mlp_hidden, 3) if head else None

    def embed(self, batch, B):
        h = sum(emb(batch.atom_features[:, k]) for k, emb in enumerate(self.atom_embedding))
        if hasattr(self, "edge_type_embedding"):
            e = self.edge_type_embedding(batch.extended_type)
        else:
            e = sum(emb(batch.bond_features[:, k]) for k, emb in enumerate(self.bond_embedding))
        return h, e, self.global_state.expand(B, -1)

    def run(self, graph, h, e, u, x, z=None):
        """All blocks; with a head, the coordinates after every block (eq. 7)."""
        trajectory = []
        for block in self.blocks:
            h, e, u = block(graph, h, e, u, x, z)
            if self.head is not None:
                x = recentred_update(self.head, h, x, graph.batch, graph.num_graphs)
                trajectory.append(x)
        return h, e, u, trajectory


class DMCG(ConformerModel, nn.Module):
    """DMCG (module docstring): prior, encoder and decoder stacks; samples in one forward pass."""

    name = "dmcg"
    trainable = True

    def __init__(self, dim: int = 256, mlp_hidden: int = 1024, layers: int = 6, heads: int = 4, dropout: float = 0.1,
                 aux_weight: float = 0.2, beta_min: float = 1e-4, beta_max: float = 0.03, sample_scale: float = 1.2,
                 permutation_loss: bool = True, bond_weight: float = 0.0, angle_weight: float = 0.0,
                 encoder_edges: str = "bond", free_bits: float = 0.0):
        """bond_weight, angle_weight: the released code's local-geometry terms on the final
        conformation (QM9: 0.1 and 0.2; Drugs: 0). encoder_edges: the graph phi_3D reads, "bond"
        (the paper) or "extended" (bonds, 2- and 3-hop pairs, the released code's --extend-edge, here
        for the encoder only): with bonds alone, the only rotation-invariant geometry the encoder
        sees is bond lengths, which do not tell one conformer from another, and the latent
        collapsed (validation KL 2e-4 nats); 1-3 and 1-4 distances carry the angles and torsions.
        free_bits: a floor, in nats, under each latent dimension's KL (batch mean) in the loss
        ("free bits", Kingma et al. 2016): up to that much information per dimension costs nothing,
        against the collapse of the latent; 0 (the paper) is the plain KL. The logged "kl" is the
        plain KL either way."""
        nn.Module.__init__(self)
        ConformerModel.__init__(self, dim=dim, mlp_hidden=mlp_hidden, layers=layers, heads=heads, dropout=dropout,
                                aux_weight=aux_weight, beta_min=beta_min, beta_max=beta_max,
                                sample_scale=sample_scale, permutation_loss=permutation_loss,
                                bond_weight=bond_weight, angle_weight=angle_weight, encoder_edges=encoder_edges,
                                free_bits=free_bits)
        if not free_bits >= 0:
            raise ValueError(f"free_bits must be >= 0 nats, got {free_bits!r}")
        if encoder_edges not in ("bond", "extended"):
            raise ValueError(f"encoder_edges must be 'bond' or 'extended', got {encoder_edges!r}")
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        args = (dim, mlp_hidden, layers, heads, dropout)
        edge_types = features.HOP3_TYPE + 1 if encoder_edges == "extended" else 0
        self.prior = Stack(*args, embed=True, head=True)
        self.encoder = Stack(*args, embed=True, head=False, edge_types=edge_types)
        self.decoder = Stack(*args, embed=False, head=True, final_global=False)
        self.latent = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, 2 * dim))  # -> mu, log sigma
        self.progress = 0.0
        self.alignment_seconds = 0.0  # time spent in rtp_loss (permutation + alignment), for profiling

    @property
    def data_spec(self) -> DataSpec:
        edges = ("bond", "extended") if self.config["encoder_edges"] == "extended" else ("bond",)
        return DataSpec(edges=edges, mode="conformer", selection="all")

    def set_training_progress(self, step: int, max_steps: int) -> None:
        self.progress = min(1.0, step / max(1, max_steps))

    @property
    def beta(self) -> float:
        lo, hi = self.config["beta_min"], self.config["beta_max"]
        return lo + (hi - lo) * (1 - math.cos(math.pi * self.progress)) / 2

    # --- the three stacks --------------------------------------------------------------------------
    def _prior(self, batch, graph, generator=None):
        h, e, u = self.prior.embed(batch, graph.num_graphs)
        # drawn on the CPU (its generator gives the same samples on every device), then moved once
        x = torch.rand(batch.atomic_numbers.numel(), 3, generator=generator) * 2 - 1
        return self.prior.run(graph, h, e, u, x.to(h))

    def _posterior(self, batch, graph):
        """mu, log sigma of q(z | R, G) from the reference, centred and (in training) randomly rotated."""
        ref = batch.pos - segment_mean(batch.pos, batch.batch, graph.num_graphs)[batch.batch]
        if self.training:
            R = ck.random_rotations(graph.num_graphs, dtype=ref.dtype, device=ref.device)[batch.batch]
            ref = torch.einsum("aij,aj->ai", R, ref)
        if self.config["encoder_edges"] == "extended":
            graph = BondGraph.of(batch, batch.extended_index)
        h, e, u = self.encoder.embed(batch, graph.num_graphs)
        h, _, u, _ = self.encoder.run(graph, h, e, u, ref)
        mu, log_sigma = self.latent(torch.cat([segment_mean(h, batch.batch, graph.num_graphs), u], 1)).chunk(2, dim=1)
        return mu, log_sigma.clamp(-10, 10)

    # --- training ---------------------------------------------------------------------------------
    def _rtp(self, pred, batch, perms):
        start = time.perf_counter()
        loss = ck.rtp_loss(pred, batch.pos, perms[0], ptr=batch.ptr, perm_ptr=perms[1], reduction="mean",
                           metric="mean_distance")
        self.alignment_seconds += time.perf_counter() - start
        return loss

    def _permutations(self, batch):
        if self.config["permutation_loss"]:
            return batch.permutations, batch.perm_ptr
        sizes = torch.diff(batch.ptr)  # identity only: the "No l_P" ablation
        return (torch.arange(int(sizes.sum()), device=sizes.device) - torch.repeat_interleave(batch.ptr[:-1], sizes),
                batch.ptr)

    def forward(self, batch) -> dict:
        """DMCG's loss on a conformer batch (reads the bond graph, features, pos in A and the
        automorphism tables): {"loss", "final": l_RTP of the final conformation, "prior", "kl"}."""
        graph, perms = BondGraph.of(batch), self._permutations(batch)
        h, e, u, prior_traj = self._prior(batch, graph)
        mu, log_sigma = self._posterior(batch, graph)
        z = mu + log_sigma.exp() * torch.randn_like(mu)
        _, _, _, traj = self.decoder.run(graph, h, e, u, prior_traj[-1], z)
        prior_loss, final_loss = self._rtp(prior_traj[-1], batch, perms), self._rtp(traj[-1], batch, perms)
        intermediate = sum(self._rtp(x, batch, perms) for x in traj[:-1]) if len(traj) > 1 else final_loss * 0
        kl_per_dim = 0.5 * (mu.square() + (2 * log_sigma).exp() - 1 - 2 * log_sigma).mean(0)  # (dim,) nats
        kl = kl_per_dim.sum()
        kl_term = kl_per_dim.clamp_min(self.config["free_bits"]).sum() if self.config["free_bits"] else kl
        loss = prior_loss + final_loss + self.config["aux_weight"] * intermediate + self.beta * kl_term
        logs = {"final": final_loss.detach(), "prior": prior_loss.detach(), "kl": kl.detach()}
        if self.config["bond_weight"] or self.config["angle_weight"]:
            bond, angle = local_geometry_errors(traj[-1], batch.pos, graph)
            loss = loss + self.config["bond_weight"] * bond + self.config["angle_weight"] * angle
            logs.update(bond=bond.detach(), angle=angle.detach())
        return {"loss": loss, **logs}

    def validation_step(self, batch) -> dict:
        """The training loss on a validation batch (the engine fixes the random stream)."""
        return self.forward(batch)

    # --- inference --------------------------------------------------------------------------------
    @torch.no_grad()
    def generate_batch(self, batch, generator=None) -> torch.Tensor:
        """Coordinates (A, 3) of one sample per molecule of the batch: z ~ N(0, I) x sample_scale."""
        graph = BondGraph.of(batch)
        h, e, u, prior_traj = self._prior(batch, graph, generator)
        check_time_budget()  # one pass: checked between the prior and the decoder
        z = torch.randn(graph.num_graphs, h.shape[1], generator=generator).to(h) * self.config["sample_scale"]
        return self.decoder.run(graph, h, e, u, prior_traj[-1], z)[3][-1]

    @torch.no_grad()
    def sample(self, mols, n, seed: int = 0) -> list:
        """Per molecule, the heavy-atom molecule with n conformers (A), or the exception."""
        generator = torch.Generator().manual_seed(seed)
        self.eval()
        return sample_copies(mols, n, ("bond",), lambda batch: self.generate_batch(batch, generator),
                             MAX_ATOMS_PER_BATCH, module_device(self), self.timeout)


def local_geometry_errors(x: torch.Tensor, reference: torch.Tensor, graph: BondGraph) -> tuple:
    """(mean |bond length error| in A, mean |bond-angle cosine error|) of x (N, 3) against the
    reference (N, 3) on the batch's bond graph: the released code's bond and angle losses (it draws
    one neighbour pair per centre atom; here every pair). They keep bonded neighbours apart: without
    them, half of an early snapshot's samples put two neighbours of one atom within 0.5 A."""
    return common_local_geometry_errors(x, reference, graph.index, bond_angles(graph.index, x.shape[0]))


register("dmcg", DMCG, "DMCG: direct conformation generation (GN blocks + GATv2, l_RTP with symmetric permutations); "
         "trained on QM9 DFT + GFN2-xTB ensembles (stage 3: free bits), below ETKDG here (checkpoints/dmcg_qm9.json)",
         checkpoint=os.path.join(SHIPPED, "dmcg_qm9.pt"))
register("dmcg-no-lp", DMCG, "DMCG without the permutation term of l_RTP (the paper's 'No l_P' ablation)",
         permutation_loss=False)
