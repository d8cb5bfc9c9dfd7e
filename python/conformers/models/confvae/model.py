"""ConfVAE (Xu et al., ICML 2021): a conditional VAE whose decoder is a continuous normalizing flow
over the interatomic distances of the extended graph, followed by differentiable distance geometry.

- prior p(z | G) and encoder q(z | R, G): GINs (3 layers) on the extended graph, the encoder's edges
  also carrying MLP(d_ij) of the reference; a latent per atom (the released code: 8 per node) from
  MLP([h_i, sum over the molecule]).
- decoder: a CNF over the distance of every unordered pair of the extended graph, conditioned on z
  and G: dd/dt = f(d, t | z, G), f an MPNN (GINE layers) whose edge input is a concat-squash of
  (d, t) times the edge-type embedding, read out per pair from [h_u * h_v, e_uv]. The flow is
  integrated with torchdiffeq (dopri5); log p(d | z, G) by the instantaneous change of variables,
  its trace exact or by Hutchinson's estimator. A learned per-edge-type affine map standardizes d.
- distance geometry: R_T from T steps of gradient descent on H(R, d) (distance_geometry.py),
  unrolled so the reconstruction loss reaches d, z and every parameter.
Loss: L_recon (aligned RMSD of R_T to the reference, ck.rmsd) + lambda KL(q || p) + alpha (-log
p(d_ref | z, G)) per molecule; ``recon_weight=0`` is the paper's ConfVAE- (no L_recon). Options
beyond the paper's text: ``adjoint`` (the CNF by torchdiffeq's adjoint method: the paper's constant
memory, ~5x less per step for ~1.2-1.5x the time), ``inner_init="mds"`` (the inner loop and the
sampler start from the metric-matrix embedding of d instead of N(0, I)). Optional, not in the
paper: ``velocity_bound`` B, the flow's output as B tanh(f / B), for fixed-step solvers
-- with L_recon (which decodes from noise in training) the rk4 decoder's trajectories overflowed
for some molecules from step ~250-700 of a run (inf distances, masked in the forward, NaN in the
backward: 0 x inf); the paper's adaptive dopri5 would take more steps instead -- and a
per-molecule guard on the unrolled hypergradient (reconstruction_rmsd).
"""
from __future__ import annotations

import math
import os

import torch
from torch import nn

import conformer_kernels as ck

from ..base import SHIPPED, ConformerModel, DataSpec, check_time_budget, module_device, register, sample_copies
from ..common import ExtendedPairGraph, GINEConv, mlp, segment_mean
from .distance_geometry import MODES, dg_gradient, distance_geometry, metric_matrix_embedding

INNER_INITS = ("random", "mds")  # the inner loop's and the sampler's start: N(0, I) or the embedding of d


def segment_sum(values, segment, count):
    return torch.zeros(count, dtype=values.dtype, device=values.device).index_add(0, segment, values)


class LatentGIN(nn.Module):
    """p(z | G) (distances=False) or q(z | R, G) (distances=True): per-atom mean and log std."""

    def __init__(self, hidden: int, latent: int, layers: int, distances: bool):
        super().__init__()
        self.node, self.edge = nn.Embedding(100, hidden), nn.Embedding(100, hidden)
        self.distance = mlp(1, hidden, hidden) if distances else None
        self.convs = nn.ModuleList(GINEConv(hidden) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))  # the released code: BatchNorm
        self.head = mlp(2 * hidden, hidden, 2 * latent)

    def forward(self, graph, d=None):
        """d: (P,) distances per unordered pair. The edge features are symmetric, so they are
        computed once per pair and both directions read that row (half the (E, hidden) work)."""
        pairs = graph.pairs
        e = self.edge(graph.pair_types)
        if self.distance is not None:
            e = e * self.distance(d[:, None])
        h = self.node(graph.atoms)
        for conv, norm in zip(self.convs, self.norms):
            h = norm(h + torch.relu(conv(h, pairs.csr, e, pairs.inverse)))
        pooled = segment_mean(h, graph.batch, graph.num_graphs)[graph.batch]
        mu, log_sigma = self.head(torch.cat([h, pooled], 1)).chunk(2, dim=1)
        return mu, log_sigma.clamp(-6, 2)


class DistanceFlow(nn.Module):
    """dd/dt = f(d, t | z, G) over the unordered pairs of the extended graph."""

    def __init__(self, hidden: int, latent: int, layers: int, velocity_bound: float | None = None):
        super().__init__()
        self.velocity_bound = velocity_bound
        self.node, self.edge = nn.Embedding(100, hidden - latent), nn.Embedding(100, hidden)
        self.latent = nn.Linear(latent, latent)
        self.d_in, self.t_gate, self.t_bias = nn.Linear(1, hidden), nn.Linear(1, hidden), nn.Linear(1, hidden, bias=False)
        self.convs = nn.ModuleList(GINEConv(hidden) for _ in range(layers))
        self.out = mlp(2 * hidden, hidden, hidden // 2, 1)

    def dynamics_parameters(self):
        """The parameters the velocity reads directly (not through ``condition``)."""
        conditioning = {id(p) for m in (self.node, self.edge, self.latent) for p in m.parameters()}
        return tuple(p for p in self.parameters() if id(p) not in conditioning)

    def condition(self, graph, z):
        """What stays fixed during one integration: the atom inputs (N, hidden), z in their first
        ``latent`` channels, and each pair's type embedding (P, hidden)."""
        atoms = torch.cat([self.latent(z), self.node(graph.atoms)], 1)
        return atoms, self.edge(graph.pair_types)

    def forward(self, t, d, graph, condition):
        """dd/dt (P,) at time t for the distances d (P,) of graph's unordered pairs, given the
        ``condition`` (atom inputs, pair-type embeddings)."""
        atoms, types = condition
        pairs = graph.pairs
        tt = t.reshape(1, 1).to(d)
        e_pair = (self.d_in(d[:, None]) * torch.sigmoid(self.t_gate(tt)) + self.t_bias(tt)) * types
        h = atoms
        for k, conv in enumerate(self.convs):  # each edge reads its pair's feature row
            out = conv(h, pairs.csr, e_pair, pairs.inverse)
            h = h + (nn.functional.softplus(out) if k < len(self.convs) - 1 else out)
        velocity = self.out(torch.cat([pairs.product(h), e_pair], 1)).squeeze(1)
        if self.velocity_bound:  # smooth bound: a fixed-step solver's trajectory cannot overflow
            velocity = self.velocity_bound * torch.tanh(velocity / self.velocity_bound)
        return velocity


class _Velocity(nn.Module):
    """dd/dt for torchdiffeq (a module, as its adjoint method requires)."""

    def __init__(self, flow, graph, condition):
        super().__init__()
        self.flow, self.graph, self.condition = flow, graph, condition

    def forward(self, t, d):
        check_time_budget()  # an adaptive solver's step count is not bounded in advance
        return self.flow(t, d, self.graph, self.condition)


class _Augmented(nn.Module):
    """[dd/dt, dlogp/dt = -tr(df/dd)] for torchdiffeq; the trace exact or by Hutchinson."""

    def __init__(self, flow, graph, condition, trace: str, probe=None):
        super().__init__()
        self.flow, self.graph, self.condition, self.trace, self.probe = flow, graph, condition, trace, probe

    def forward(self, t, state):
        # without grad mode (sampling, the adjoint's forward pass) the state is no graph's node: a
        # leaf for the trace's vector-Jacobian product (a no-grad view of it would not record)
        d = state[0] if torch.is_grad_enabled() else state[0].detach().requires_grad_()
        with torch.enable_grad():
            f = self.flow(t, d, self.graph, self.condition)
            if self.trace == "hutchinson":
                vjp = torch.autograd.grad(f, d, self.probe, create_graph=True)[0]
                div = vjp * self.probe
            else:  # exact: one backward pass per pair (small graphs, tests)
                div = torch.stack([torch.autograd.grad(f[k], d, create_graph=True)[0][k] for k in range(f.numel())])
        return f, -segment_sum(div, self.graph.pair_batch, self.graph.num_graphs)


class ConfVAECore(nn.Module):
    """The prior, the encoder and the CNF decoder over distances, with the ODE solver's settings."""

    def __init__(self, hidden: int = 64, latent: int = 8, layers: int = 3, time_length: float = 0.5,
                 solver: str = "dopri5", tol: float = 1e-5, trace: str = "hutchinson", ode_steps: int = 8,
                 velocity_bound: float | None = None, adjoint: bool = False, encoder_hidden: int | None = None):
        super().__init__()
        self.adjoint = adjoint
        width = encoder_hidden or hidden
        self.prior, self.encoder = LatentGIN(width, latent, layers, False), LatentGIN(width, latent, layers, True)
        self.flow = DistanceFlow(hidden, latent, layers, velocity_bound)
        self.shift, self.log_scale = nn.Parameter(torch.full((100,), 2.0)), nn.Parameter(torch.zeros(100))
        self.time_length, self.solver, self.tol, self.trace = time_length, solver, tol, trace
        # fixed-grid solvers (euler, midpoint, rk4) take ode_steps steps; adaptive ones (dopri5) the tolerance
        self.options = None if solver in ("dopri5", "dopri8", "bosh3", "adaptive_heun") else \
            {"step_size": time_length / ode_steps}

    def _integrate(self, graph, z, start, backward: bool, with_logp: bool):
        condition = self.flow.condition(graph, z)
        times = torch.tensor([0.0, self.time_length], dtype=start.dtype, device=start.device)
        if backward:
            times = times.flip(0)
        if not with_logp:
            return self._odeint(_Velocity(self.flow, graph, condition), start, times, condition)[-1], None
        probe = torch.randn_like(start) if self.trace == "hutchinson" else None
        state = (start, torch.zeros(graph.num_graphs, dtype=start.dtype, device=start.device))
        d, logp = self._odeint(_Augmented(self.flow, graph, condition, self.trace, probe), state, times, condition)
        return d[-1], logp[-1]

    def _odeint(self, fn, state, times, condition):
        """torchdiffeq; with ``adjoint`` its adjoint method (the paper's constant-memory CNF: the
        backward pass integrates the adjoint system instead of storing every evaluation's graph),
        its parameters the velocity's own and the condition tensors (through which the gradient
        reaches z and the embeddings: listing those too would count them twice)."""
        from torchdiffeq import odeint, odeint_adjoint

        kwargs = dict(rtol=self.tol, atol=self.tol, method=self.solver, options=self.options)
        if not (self.adjoint and torch.is_grad_enabled()):
            return odeint(fn, state, times, **kwargs)
        params = self.flow.dynamics_parameters() + tuple(c for c in condition if c.requires_grad)
        return odeint_adjoint(fn, state, times, adjoint_params=params, **kwargs)

    def log_likelihood(self, graph, z, d):
        """log p(d | z, G) per molecule (nats): standardize, flow back to the base N(0, I)."""
        types = graph.pair_types
        u = (d - self.shift[types]) * torch.exp(-self.log_scale[types])
        noise, delta = self._integrate(graph, z, u, backward=True, with_logp=True)
        base = -0.5 * (noise.square() + math.log(2 * math.pi))
        return segment_sum(base - self.log_scale[types], graph.pair_batch, graph.num_graphs) - delta

    def decode(self, graph, z, noise=None, generator=None):
        """Distances per unordered pair from base noise (drawn if not given)."""
        types = graph.pair_types
        if noise is None:
            noise = torch.randn(types.numel(), generator=generator, dtype=z.dtype, device=z.device)
        u, _ = self._integrate(graph, z, noise, backward=False, with_logp=False)
        return u * torch.exp(self.log_scale[types]) + self.shift[types]

    def encode(self, graph, d):
        return self.encoder(graph, d)


def kl_normal(mu_q, ls_q, mu_p, ls_p):
    """KL(N(mu_q, e^{2 ls_q}) || N(mu_p, e^{2 ls_p})) per row (nats), summed over the last dimension."""
    kl = ls_p - ls_q + (torch.exp(2 * ls_q) + (mu_q - mu_p).square()) / (2 * torch.exp(2 * ls_p)) - 0.5
    return kl.sum(1)


D_RANGE = (0.5, 15.0)  # decoded distances are clamped to this range (Angstrom) before distance geometry


def clamped_distances(d):
    """d clamped to D_RANGE; non-finite ones (a fixed-step flow early in training can overflow)
    count as the range's bounds."""
    return torch.nan_to_num(d, nan=D_RANGE[1], posinf=D_RANGE[1], neginf=D_RANGE[0]).clamp(*D_RANGE)


def reconstruction_rmsd(graph, d_pairs, reference, ptr, steps, lr, mode, generator=None, hypergradient_clip=None,
                        dropped=None, init: str = "random"):
    """Aligned RMSD per molecule of the distance-geometry solution for d to the reference. The
    decoded distances are clamped to D_RANGE first: an untrained flow's negative or huge distances
    made the unrolled gradient descent diverge (seen at step 412 of a first run).

    The descent starts from N(0, I) coordinates (init="random") or from the metric-matrix
    embedding of d (init="mds", a constant start): with the reference's own distances, 100 steps
    from N(0, I) end 1.25 A from it on QM9 molecules, from the embedding 0.63 A, so L_recon measures
    the decoded distances rather than an unconverged solver. Distances cannot encode handedness;
    the embedding is mirrored where its mirror image lies closer to the reference (the aligned RMSD
    allows no reflection, and no change of d could flip it).

    The full unroll's hypergradient can be ill-conditioned: where two atoms come close while their
    target distance is larger (s << d), the step map's tangential Jacobian 1 - 2 lr (s - d) / s
    exceeds 1 by a lot, and its product over T steps can overflow. So per molecule the
    hypergradient to its distances is dropped when non-finite (counted in ``dropped``, a
    one-element tensor) and, with hypergradient_clip, rescaled to at most that norm; the released
    code's one-step variant (mode="last") never sees it. (A safeguard: it never fired in the
    recorded runs; their NaN gradients came from the decoder, see velocity_bound.)"""
    d_pairs = clamped_distances(d_pairs)
    if d_pairs.requires_grad:
        d_pairs = _GuardedHypergradient.apply(d_pairs, graph.pair_batch, graph.num_graphs, hypergradient_clip, dropped)
    d_edges = d_pairs.index_select(0, graph.pairs.inverse)
    if init == "mds":
        x0 = matching_handedness(metric_matrix_embedding(graph.index, d_edges.detach(), ptr), reference, ptr)
    elif init == "random":
        x0 = torch.randn(reference.shape, generator=generator, dtype=reference.dtype, device=reference.device)
    else:
        raise ValueError(f"init must be one of {INNER_INITS}, got {init!r}")
    x = distance_geometry(x0, graph.index, d_edges, steps, lr, mode=mode)
    return ck.rmsd(x, reference, ptr=ptr)


MIRROR = (1.0, 1.0, -1.0)


def mirrored_where(x, ptr, mirror):
    """x with the molecules where ``mirror`` (B,) is true reflected through the xy plane."""
    return torch.where(mirror.repeat_interleave(ptr.diff())[:, None], x * x.new_tensor(MIRROR), x)


def matching_handedness(x, reference, ptr):
    """x with each molecule mirrored where its mirror image aligns closer to the reference."""
    closer = ck.rmsd(x * x.new_tensor(MIRROR), reference, ptr=ptr) < ck.rmsd(x, reference, ptr=ptr)
    return mirrored_where(x, ptr, closer)


class _GuardedHypergradient(torch.autograd.Function):
    """Identity; its backward zeroes each molecule's non-finite gradient and clips the others'
    norms (see reconstruction_rmsd)."""

    @staticmethod
    def forward(ctx, d, molecule, count, clip, dropped):
        ctx.save_for_backward(molecule)
        ctx.count, ctx.clip, ctx.dropped = count, clip, dropped
        return d.view_as(d)

    @staticmethod
    def backward(ctx, grad):
        molecule, = ctx.saved_tensors
        finite = torch.isfinite(grad)
        bad = segment_sum((~finite).to(grad.dtype), molecule, ctx.count) > 0
        grad = torch.where(bad[molecule], torch.zeros_like(grad), grad)
        if ctx.dropped is not None:
            ctx.dropped += bad.sum()
        if ctx.clip:
            norm = segment_sum(grad.square(), molecule, ctx.count).sqrt()
            grad = grad * (ctx.clip / norm.clamp_min(ctx.clip))[molecule]
        return grad, None, None, None, None


class ConfVAE(ConformerModel, nn.Module):
    """ConfVAE (module docstring): the trainable model and its sampler (prior z, flow, distance
    geometry)."""

    name = "confvae"
    trainable = True

    def __init__(self, hidden: int = 64, latent: int = 8, layers: int = 3, encoder_hidden: int | None = None,
                 recon_weight: float = 1.0, kl_weight: float = 1.0, aux_weight: float = 1.0,
                 inner_steps: int = 50, inner_lr: float = 0.02, inner_mode: str = "fused", inner_init: str = "random",
                 trace: str = "hutchinson", tol: float = 1e-5, solver: str = "dopri5", ode_steps: int = 8,
                 adjoint: bool = False, velocity_bound: float | None = None, hypergradient_clip: float | None = None,
                 sample_steps: int = 1000, sample_lr: float = 0.1, distance_noise: float = 0.1):
        """hidden: the flow's width (the released code: 64); encoder_hidden: the encoder's and the
        prior's (the paper: 256 for every MPNN; default: hidden); inner_mode: "fused" (the exact
        hypergradient of the unrolled inner loop, default) or "last" (the released code's last-step
        approximation). Variants that lost the measurements left this class (free bits and z in
        every flow layer against the collapse of the KL term; two slower exact unrolls): their
        figures are in benchmarks/README.md."""
        if inner_init not in INNER_INITS:  # checked here: the sampler would otherwise fall back silently
            raise ValueError(f"inner_init must be one of {INNER_INITS}, got {inner_init!r}")
        if inner_mode not in MODES:
            raise ValueError(f"inner_mode must be one of {MODES}, got {inner_mode!r}")
        nn.Module.__init__(self)
        ConformerModel.__init__(self, **{k: v for k, v in locals().items() if k not in ("self", "__class__")})
        self.register_buffer("dropped_hypergradients", torch.zeros((), dtype=torch.int64), persistent=False)
        self.core = ConfVAECore(hidden, latent, layers, trace=trace, tol=tol, solver=solver, ode_steps=ode_steps,
                                velocity_bound=velocity_bound, adjoint=adjoint, encoder_hidden=encoder_hidden)

    @property
    def data_spec(self) -> DataSpec:
        return DataSpec(edges=("extended",), mode="conformer", selection="top_k", k=5)

    def forward(self, batch) -> dict:
        """ConfVAE's loss on a conformer batch (reads the extended graph and pos in A): {"loss",
        "kl", "nll_per_pair" and, with recon_weight, "recon_rmsd" (A)}."""
        c, graph = self.config, ExtendedPairGraph.of(batch)
        pairs = graph.pairs
        d_ref = (batch.pos[pairs.i] - batch.pos[pairs.j]).norm(dim=1)
        if self.training and c["distance_noise"]:  # the released code's train_noise_std on edge lengths
            d_ref = d_ref + c["distance_noise"] * torch.randn_like(d_ref)
        mu_q, ls_q = self.core.encode(graph, d_ref)
        mu_p, ls_p = self.core.prior(graph)
        z = mu_q + torch.exp(ls_q) * torch.randn_like(mu_q)
        kl_atoms = kl_normal(mu_q, ls_q, mu_p, ls_p)  # (N,): the loss takes its mean per atom
        kl = segment_sum(kl_atoms, graph.batch, graph.num_graphs)
        nll = -self.core.log_likelihood(graph, z, d_ref)
        losses = {"kl": kl.mean(), "nll_per_pair": (nll / segment_sum(torch.ones_like(d_ref), graph.pair_batch,
                                                                      graph.num_graphs)).mean()}
        loss = c["kl_weight"] * kl_atoms.mean() + c["aux_weight"] * losses["nll_per_pair"]
        if c["recon_weight"]:
            d_hat = self.core.decode(graph, z)
            recon = reconstruction_rmsd(graph, d_hat, batch.pos, batch.ptr, c["inner_steps"], c["inner_lr"],
                                        c["inner_mode"], hypergradient_clip=c["hypergradient_clip"],
                                        dropped=self.dropped_hypergradients, init=c["inner_init"])
            losses["recon_rmsd"] = recon.mean()
            losses["dropped_hypergradients"] = self.dropped_hypergradients.to(loss.dtype)  # so far, cumulative
            loss = loss + c["recon_weight"] * losses["recon_rmsd"]
        return {"loss": loss, **{k: v.detach() for k, v in losses.items()}}

    def validation_step(self, batch) -> dict:
        """The training loss on a validation batch (the engine fixes the random stream)."""
        return self.forward(batch)

    @torch.no_grad()
    def sample(self, mols, n, seed: int = 0) -> list:
        """Per molecule, the heavy-atom molecule with n conformers (A), or the exception."""
        device = module_device(self)
        generator = torch.Generator(device=device).manual_seed(seed)  # draws happen where the batch lives
        self.eval()
        return sample_copies(mols, n, ("extended",), lambda batch: self._generate_batch(batch, generator),
                             device=device, timeout=self.timeout)

    def _generate_batch(self, batch, generator):
        """z ~ p(z | G), distances from the flow, coordinates by distance geometry."""
        graph = ExtendedPairGraph.of(batch)
        mu, ls = self.core.prior(graph)
        z = mu + torch.exp(ls) * torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        d = self.core.decode(graph, z, generator=generator)
        return embed(graph, d, batch.ptr, self.config["sample_steps"], self.config["sample_lr"], generator,
                     self.config["inner_init"])


def embed(graph, d_pairs, ptr, steps, lr, generator=None, init: str = "random"):
    """Coordinates for the decoded distances: Adam on H(R, d) (the released sampler's Embed3D, the
    gradient by the fused kernel) from N(0, I) (init="random", as released) or from the
    metric-matrix embedding of d, each molecule mirrored at random (distances fix no handedness;
    a coin per sample hedges what a fixed eigenvector sign would get wrong for every sample)."""
    d = clamped_distances(d_pairs)[graph.pairs.inverse]
    n_atoms = int(ptr[-1])
    if init == "mds":
        coin = torch.rand(ptr.numel() - 1, generator=generator, device=ptr.device) < 0.5
        x = mirrored_where(metric_matrix_embedding(graph.index, d, ptr), ptr, coin)
    elif init == "random":
        x = torch.randn(n_atoms, 3, generator=generator, dtype=d.dtype, device=d.device)
    else:
        raise ValueError(f"init must be one of {INNER_INITS}, got {init!r}")
    x.requires_grad_()
    optimizer = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):  # the pair graph's EdgeCSR: the edge list checked and sorted once, not per step
        check_time_budget()
        x.grad = dg_gradient(x.detach(), graph.pairs.csr, d)
        optimizer.step()
    return x.detach()


register("confvae", ConfVAE, "ConfVAE: CVAE with a CNF over distances and unrolled distance geometry (L_recon); "
         "trained on QM9 DFT + GFN2-xTB ensembles, below ETKDG here (checkpoints/confvae_qm9.json)",
         checkpoint=os.path.join(SHIPPED, "confvae_qm9.pt"))
register("confvae-minus", ConfVAE, "ConfVAE- : without the reconstruction loss through distance geometry",
         recon_weight=0.0)
