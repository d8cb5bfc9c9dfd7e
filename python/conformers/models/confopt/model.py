"""ConfOpt: a learned, unrolled conformation optimizer (Guan et al., ICLR 2022): TwoAtom, Ext_v and
ThreeAtom variants.

An initial projection layer, then ``blocks`` optimization blocks of ``layers`` TwoAtom layers with
the block's weights shared across blocks. Two settings:
- optimization: start from an RDKit+MMFF conformer (one of a pool of 10 per molecule, drawn each
  step; the reference itself with probability 0.05, to be left in place), loss = MSE between
  the predicted and reference distance matrices, the closest of the molecule's references
  (those with Boltzmann weight >= 0.5 of the best). With ``relaxed_start_prob`` p, a start is
  instead, with probability p, the MMFF94 minimum in the basin of one of the references (MMFF
  relaxation from it): such a start's nearest minimum is known, so the refiner learns to move
  each start to the reference minimum of its own basin (MMFF -> DFT/xTB geometry), never to
  another basin; what a refiner of ensembles needs (a start whose basin holds no reference
  teaches a jump, and jumps collapse ensembles).
- generation: K = 5 starts per molecule, matched to K references drawn uniformly by minimum-weight
  bipartite matching (scipy's linear_sum_assignment) on the distance-matrix cost; loss = mean over
  matched pairs of the RMS distance-matrix error. ``init`` says where the starts come from:
  "random", N(0, (1 + 0.028 N)^2) in training and sampling; "rdkit", ETKDG conformers (no MMFF) in
  sampling and, in training as the released code does, references (drawn uniformly, independently
  of the K targets) plus Gaussian noise clamped at 3 sigma. The released code uses one sigma (0.5 A
  on QM9); here each start draws sigma uniformly from [0, noise_std], since the ETKDG starts met in
  sampling lie anywhere from 0.1 to 1 A from the nearest reference. With ``etkdg_start_prob`` p,
  each start is instead, with probability p, one of the molecule's ETKDG conformers (a pool of 10,
  no MMFF, computed once per molecule): the starts sampling meets, whose errors are torsions and ring
  puckers rather than isotropic noise. ``match`` says which references the K refined starts are
  scored against: "ot", the paper's (K references drawn uniformly, matched one to one); "nearest",
  each start against its own closest reference (the refiner's target: move each start within its
  basin, which is what MAT-R rewards, rather than toward a randomly matched reference); "basin",
  each start against the reference of its own basin: for an ETKDG start, the reference closest to
  the MMFF94 minimum the start relaxes to (computed with the pool), or that minimum itself where no
  reference lies within ``basin_cutoff`` (RMS distance-matrix error, A) of it, so that a start in a
  basin the ensemble lacks learns to relax in place rather than to jump; for a noisy reference, the
  reference it came from. An ETKDG start's closest reference is often in another basin (its
  torsions are off by tens of degrees); its MMFF94 minimum's is nearly always its own. With
  ``local_weight`` w, the generation loss adds w x (mean |bond length error| + mean |bond-angle
  cosine error|) of every refined sample against the references: the matching losses above weigh
  a bond no more than any other atom pair, and without this term the refined starts' bonds drifted
  a mean 0.07-0.10 A from the references' (ETKDG's: 0.03 A).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch
from rdkit import Chem
from torch import nn

from conformers.data import features
from conformers.data.batch import collate
from conformers.data.embedding import etkdg_starts_and_minima, mmff_relaxed, rdkit_mmff_starts

from ..base import (SHIPPED, ConformerModel, DataSpec, SamplingTimeout, check_time_budget, module_device, register,
                    time_budget, with_conformers)
from ..common import bond_angles, local_geometry_errors
from .layers import PAIR_CLASSES, ExtVLayer, ThreeAtomLayer, TwoAtomLayer, element_classes, pair_classes

class UnseenElementWarning(UserWarning):
    """A molecule holds an element the refiner never saw in training; it was left unrefined."""


VARIANTS = {"twoatom": TwoAtomLayer, "extv": ExtVLayer, "threeatom": ThreeAtomLayer}

INIT_POOL = 10


def distance_matrix_error(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the distance matrices of (..., N, 3) conformers."""
    return (torch.cdist(pred, pred) - torch.cdist(ref, ref)).square().mean((-1, -2))


class ConfOpt(ConformerModel, nn.Module):
    """ConfOpt's unrolled optimizer (module docstring): an initial projection, then ``blocks``
    applications of ``layers`` weight-shared layers updating atom states and coordinates."""

    name = "confopt"
    trainable = True

    def __init__(self, hidden: int = 256, heads: int = 16, blocks: int = 3, layers: int = 3, cutoff: float = 10.0,
                 setting: str = "optimization", reference_input_prob: float = 0.05, samples: int = 5,
                 fused: bool = True, variant: str = "twoatom", reference_ratio: float = 0.5,
                 elements: list | None = None, relaxed_start_prob: float = 0.0, init: str = "random",
                 noise_std: float = 0.5, etkdg_start_prob: float = 0.0, match: str = "ot",
                 basin_cutoff: float = 0.25, local_weight: float = 0.0):
        nn.Module.__init__(self)
        ConformerModel.__init__(self, hidden=hidden, heads=heads, blocks=blocks, layers=layers, cutoff=cutoff,
                                setting=setting, reference_input_prob=reference_input_prob, samples=samples,
                                fused=fused, variant=variant, reference_ratio=reference_ratio,
                                elements=None if elements is None else sorted(int(z) for z in elements),
                                relaxed_start_prob=relaxed_start_prob, init=init, noise_std=noise_std,
                                etkdg_start_prob=etkdg_start_prob, match=match, basin_cutoff=basin_cutoff,
                                local_weight=local_weight)
        for key, value in (("reference_ratio", reference_ratio), ("relaxed_start_prob", relaxed_start_prob),
                           ("etkdg_start_prob", etkdg_start_prob)):
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{key} must lie in [0, 1], got {value!r}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        if setting not in ("optimization", "generation"):
            raise ValueError(f"setting must be optimization or generation, got {setting!r}")
        if match not in ("ot", "nearest", "basin"):
            raise ValueError(f"match must be ot, nearest or basin, got {match!r}")
        if match == "basin" and (setting != "generation" or init != "rdkit"):
            raise ValueError("match=basin needs the generation setting with init=rdkit (ETKDG starts)")
        if not (isinstance(basin_cutoff, (int, float)) and basin_cutoff > 0.0):
            raise ValueError(f"basin_cutoff must be a number > 0 (A), got {basin_cutoff!r}")
        if init not in ("random", "rdkit"):
            raise ValueError(f"init must be random or rdkit, got {init!r}")
        if not (isinstance(local_weight, (int, float)) and local_weight >= 0.0):
            raise ValueError(f"local_weight must be a number >= 0, got {local_weight!r}")
        if local_weight and setting != "generation":
            raise ValueError("local_weight is a term of the generation setting's loss")
        if not (isinstance(noise_std, (int, float)) and noise_std >= 0.0):
            raise ValueError(f"noise_std must be a number >= 0 (A), got {noise_std!r}")
        self.atom_embedding = nn.ModuleList(nn.Embedding(size, hidden) for size in features.ATOM_FEATURES.values())
        self.pair_embedding = nn.Embedding(PAIR_CLASSES, hidden)
        self.init_layer = TwoAtomLayer(hidden, heads, hidden)
        layer = VARIANTS[variant]
        self.block = nn.ModuleList(layer(hidden, heads, hidden) for _ in range(layers))  # shared by all blocks
        self._pools: dict = {}
        self._relaxed: dict = {}
        self._basins: dict = {}
        self._local_graphs: dict = {}

    @property
    def data_spec(self) -> DataSpec:
        if self.config["setting"] == "optimization":  # references: weight >= ratio x the best (paper: 0.5;
            # 0 keeps every conformer, so that a start learns its nearest minimum, not the global one)
            ratio = self.config.get("reference_ratio", 0.5)
            return DataSpec(edges=("full",), mode="molecule", selection="relative", ratio=ratio, mols=True)
        return DataSpec(edges=("full",), mode="molecule", selection="cumulative", mass=0.95,
                        mols=bool(self.config.get("etkdg_start_prob", 0.0) or self.config.get("local_weight", 0.0)))

    def unseen_elements(self, mol: Chem.Mol) -> list:
        """Heavy elements of ``mol`` outside ``elements`` (those of the training data, where the
        config records them): the refiner leaves such molecules as RDKit+MMFF made them."""
        known = self.config.get("elements")
        if known is None:
            return []
        return sorted({a.GetAtomicNum() for a in mol.GetAtoms() if a.GetAtomicNum() > 1} - set(known))

    def _warn_unseen(self, mol, unseen) -> None:
        symbols = ", ".join(Chem.GetPeriodicTable().GetElementSymbol(z) for z in unseen)
        warnings.warn(f"{Chem.MolToSmiles(mol)}: {self.name} was not trained on {symbols}; its conformers are "
                      "returned as given (RDKit+MMFF), not refined", UnseenElementWarning, stacklevel=3)

    # --- the unrolled optimizer -------------------------------------------------------------------
    def optimize_batch(self, batch, x: torch.Tensor) -> torch.Tensor:
        """Coordinates (A, 3) after the init layer and blocks x layers of updates."""
        h = sum(emb(batch.atom_features[:, k]) for k, emb in enumerate(self.atom_embedding))
        pairs = pair_classes(batch.full_bond_type, batch.full_path_length, batch.full_same_conjugated)
        table, classes = self.pair_embedding.weight, element_classes(batch.atomic_numbers)
        args = (batch.full_index, pairs, table, classes, self.config["cutoff"], self.config["fused"],
                batch.full_rotatable)
        h, _ = self.init_layer(h, x, *args)  # the initial projection updates the atom states only
        for _ in range(self.config["blocks"]):
            for layer in self.block:
                check_time_budget()  # sampling for users runs under a per-molecule budget
                h, x = layer(h, x, *args)
        return x

    # --- training ---------------------------------------------------------------------------------
    def forward(self, batch) -> dict:
        """The setting's training loss on a molecule batch (reads ref_pos/ref_ptr, the references in
        A; the full graph's pair features; starts or mols in the optimization setting):
        {"loss": ..., "start_loss": the unrefined starts' loss (optimization only)}."""
        if self.config["setting"] == "optimization":
            return self._optimization_loss(batch)
        return self._generation_loss(batch)

    def validation_step(self, batch) -> dict:
        """The training loss on a validation batch (the engine fixes the random stream)."""
        return self.forward(batch)

    @staticmethod
    def _references(batch) -> list:
        """Each molecule's reference conformers, (C_b, N_b, 3), split from the ragged batch once."""
        counts, sizes = torch.diff(batch.ref_ptr), torch.diff(batch.ptr)
        parts = torch.split(batch.ref_pos, (counts * sizes).tolist())
        return [p.view(int(c), int(n), 3) for p, c, n in zip(parts, counts, sizes)]

    def _initial_conformer(self, batch, b: int, reference: torch.Tensor, row: int) -> torch.Tensor:
        """Molecule b's start: one of its RDKit+MMFF starts (stored in the batch where the cache has
        them, else computed once per molecule), or the reference itself with reference_input_prob
        and where RDKit cannot embed the molecule; with relaxed_start_prob, the MMFF relaxation of
        reference ``row`` (the reference drawn for this step)."""
        if float(torch.rand(())) < self.config["reference_input_prob"]:
            return reference
        relaxed = self.config.get("relaxed_start_prob", 0.0)
        if relaxed and float(torch.rand(())) < relaxed:
            return self._relaxed_start(batch, b, reference, row)
        n = len(reference)
        count = int(batch.start_ptr[b + 1] - batch.start_ptr[b]) // n if hasattr(batch, "starts") else 0
        if count:
            row = int(batch.start_ptr[b]) + int(torch.randint(count, ())) * n
            return batch.starts[row:row + n]
        pool = self._start_pool(batch, b, mmff=True)
        return pool[int(torch.randint(len(pool), ()))].to(reference) if len(pool) else reference

    def _start_pool(self, batch, b: int, mmff: bool, timeout: float | None = None) -> torch.Tensor:
        """(INIT_POOL, N, 3) ETKDG conformers of molecule b, MMFF94-optimized or not, embedded once per
        molecule (seeded by its index); (0, N, 3) where RDKit cannot embed it (within ``timeout`` s)."""
        key = (mmff, int(batch.index[b]))
        if key not in self._pools:
            try:
                pool = rdkit_mmff_starts(batch.mols[b], INIT_POOL, seed=key[1], timeout=timeout, mmff=mmff)
                self._pools[key] = torch.from_numpy(pool).float()
            except RuntimeError:
                self._pools[key] = torch.zeros(0, batch.mols[b].GetNumAtoms(), 3)
        return self._pools[key]

    def _relaxed_start(self, batch, b: int, reference: torch.Tensor, row: int) -> torch.Tensor:
        """MMFF94 relaxation of molecule b's reference ``row`` (computed once per molecule and row);
        the reference itself where MMFF94 has no parameters for the molecule."""
        key = (int(batch.index[b]), row)
        if key not in self._relaxed:
            try:
                coords = mmff_relaxed(batch.mols[b], reference.detach().double().cpu().numpy())
                self._relaxed[key] = torch.from_numpy(coords).float()
            except RuntimeError:
                self._relaxed[key] = None
        start = self._relaxed[key]
        return reference if start is None else start.to(reference)

    def _optimization_loss(self, batch) -> dict:
        refs = self._references(batch)
        starts = []
        for b in range(batch.num_graphs):  # the reference draw, then the start's (one random stream)
            row = int(torch.randint(len(refs[b]), ()))
            starts.append(self._initial_conformer(batch, b, refs[b][row], row))
        x0 = torch.cat(starts).to(batch.ref_pos)
        x = self.optimize_batch(batch, x0)
        losses, unrefined = [], []
        for b in range(batch.num_graphs):
            pred, start = x[batch.ptr[b]:batch.ptr[b + 1]], x0[batch.ptr[b]:batch.ptr[b + 1]]
            losses.append(distance_matrix_error(pred[None], refs[b]).min())  # the closest reference
            unrefined.append(distance_matrix_error(start[None], refs[b]).min().detach())
        # start_loss: the same loss of the unrefined starts, the baseline the refiner must beat
        return {"loss": torch.stack(losses).mean(), "start_loss": torch.stack(unrefined).mean()}

    def _generation_loss(self, batch) -> dict:
        from scipy.optimize import linear_sum_assignment

        K = self.config["samples"]
        refs = self._references(batch)
        big = _repeat_batch(batch, K)
        targets = None
        if self.config.get("init", "random") == "rdkit":
            starts, targets = zip(*(self._rdkit_init_starts(batch, b, r, K) for b, r in enumerate(refs)))
            x0 = torch.cat([s.reshape(-1, 3) for s in starts])
        else:
            x0 = _random_start(big)
        x = self.optimize_batch(big, x0)
        losses, local = [], []
        for b in range(batch.num_graphs):
            n = int(batch.ptr[b + 1] - batch.ptr[b])
            gen = torch.stack([x[big.ptr[b * K + k]:big.ptr[b * K + k] + n] for k in range(K)])
            if self.config.get("local_weight"):
                local.append(self._local_geometry_error(batch, b, gen, refs[b]))
            if self.config.get("match", "ot") == "nearest":
                losses.append(_nearest_reference_error(gen, refs[b]))
                continue
            if self.config.get("match") == "basin":
                losses.append(_root(distance_matrix_error(gen, targets[b])).mean())
                continue
            chosen = refs[b][torch.randint(len(refs[b]), (K,))]  # K references, uniformly with replacement
            cost = distance_matrix_error(gen[:, None], chosen[None])                # (K gen, K ref)
            rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
            losses.append(_root(cost[rows, cols]).mean())
        if not local:
            return {"loss": torch.stack(losses).mean()}
        local = torch.stack(local).mean()
        return {"loss": torch.stack(losses).mean() + self.config["local_weight"] * local, "local": local.detach()}

    def _local_geometry_error(self, batch, b: int, gen: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
        """Mean |bond length error| (A) plus mean |bond-angle cosine error| of molecule b's samples
        (K, N, 3) against each of its references (C, N, 3): bond lengths and angles barely change
        between conformers, so every reference is a target, whichever basin a sample is in."""
        key = int(batch.index[b])
        if key not in self._local_graphs:
            heavy = Chem.RemoveHs(batch.mols[b])
            bonds = torch.tensor([[x.GetBeginAtomIdx(), x.GetEndAtomIdx()] for x in heavy.GetBonds()],
                                 dtype=torch.int64).reshape(-1, 2).T
            self._local_graphs[key] = (bonds, bond_angles(bonds, heavy.GetNumAtoms()))
        bonds, angles = (t.to(gen.device) for t in self._local_graphs[key])
        bond, angle = local_geometry_errors(gen[:, None], refs[None].to(gen), bonds, angles)
        return bond + angle

    def _rdkit_init_starts(self, batch, b: int, refs: torch.Tensor, K: int) -> tuple:
        """(starts, targets), each (K, N, 3), of molecule b in the RDKit-init generation setting:
        noisy references (_noisy_references), each replaced with probability etkdg_start_prob by one
        of the molecule's ETKDG conformers (as many random draws whatever the pool holds); targets
        are each start's basin reference (match=basin; the module docstring): the reference a noisy
        start came from, an ETKDG start's from _basin_pool."""
        starts, targets = _noisy_references(refs, K, self.config["noise_std"])
        p = self.config.get("etkdg_start_prob", 0.0)
        if not p:
            return starts, targets
        use, picks = torch.rand(K) < p, torch.randint(INIT_POOL, (K,))
        if self.config.get("match") == "basin":
            pool, basins = self._basin_pool(batch, b, refs)
        else:
            pool = basins = self._start_pool(batch, b, mmff=False, timeout=10.0)  # targets unused but by basin
        if not len(pool):
            return starts, targets
        use = use[:, None, None].to(starts.device)
        return torch.where(use, pool[picks].to(starts), starts), torch.where(use, basins[picks].to(targets), targets)

    def _basin_pool(self, batch, b: int, refs: torch.Tensor) -> tuple:
        """(pool, targets), each (INIT_POOL, N, 3): molecule b's ETKDG pool (the same conformers as
        _start_pool's) and each one's basin target, the reference closest to its MMFF94 minimum or,
        where none lies within basin_cutoff, that minimum; computed once per molecule."""
        key = int(batch.index[b])
        if key not in self._basins:
            try:
                pool, minima = (torch.from_numpy(x).float() for x in
                                etkdg_starts_and_minima(batch.mols[b], INIT_POOL, seed=key, timeout=10.0))
            except RuntimeError:
                self._basins[key] = (torch.zeros(0, *refs.shape[1:]),) * 2
                return self._basins[key]
            refs = refs.detach().float().cpu()
            distance, nearest = distance_matrix_error(minima[:, None], refs[None]).sqrt().min(1)  # (P,)
            within = (distance <= self.config["basin_cutoff"])[:, None, None]
            self._basins[key] = (pool, torch.where(within, refs[nearest], minima))
        return self._basins[key]

    # --- inference --------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, mols, n, seed: int = 0) -> list:
        """Per molecule, the heavy-atom molecule with n conformers (A) refined from ETKDG(+MMFF) or
        random starts (the setting's), or the exception that stopped it."""
        counts = [n] * len(mols) if isinstance(n, int) else list(n)
        generator = torch.Generator().manual_seed(seed)  # on the CPU: the same samples on every device
        device, out = module_device(self), []
        for mol, count in zip(mols, counts):
            try:
                with time_budget(self.timeout):  # embedding and refinement together
                    out.append(self._sample_one(Chem.RemoveHs(mol), count, seed, generator, device))
            except SamplingTimeout:
                out.append(SamplingTimeout(f"sampling took longer than its time budget of {self.timeout:g} s per "
                                           f"molecule (--timeout)"))
            except (RuntimeError, ValueError) as exc:
                out.append(exc)
        return out

    def _sample_one(self, heavy, count: int, seed: int, generator, device):
        """``sample``'s work for one molecule: its n conformers on the heavy-atom molecule."""
        batch = _copies(heavy, count).to(device)
        unseen = self.unseen_elements(heavy)
        random_init = self.config["setting"] == "generation" and self.config.get("init", "random") == "random"
        if random_init:
            if unseen:
                raise ValueError(f"{self.name} was not trained on elements {unseen}")
            x0 = _random_start(batch, generator)
        else:  # ETKDG starts: with MMFF for the refiner, without for the generation setting
            mmff = self.config["setting"] == "optimization"
            starts = rdkit_mmff_starts(heavy, count, seed, timeout=self.timeout, mmff=mmff)
            x0 = torch.from_numpy(starts).float().reshape(-1, 3).to(device)
        self.eval()
        if unseen:
            self._warn_unseen(heavy, unseen)
            return with_conformers(heavy, x0.reshape(count, -1, 3).double().cpu().numpy())
        x = self.optimize_batch(batch, x0).reshape(count, -1, 3).double().cpu().numpy()
        if not random_init:
            x = _keep_start_stereo(heavy, x, x0.reshape(count, -1, 3).double().cpu().numpy())
        return with_conformers(heavy, x)

    @torch.no_grad()
    def optimize(self, mols, max_atoms: int = 20000) -> list:
        """Refine given conformers: per molecule, a copy with explicit H (placed on the refined heavy
        atoms) carrying its conformers refined, or the exception that stopped it. All molecules'
        conformers go through the network together, in batches of up to ``max_atoms`` atoms."""
        out, jobs = [None] * len(mols), []
        for k, mol in enumerate(mols):
            try:
                heavy = features.remove_hs(mol)
                if heavy.GetNumConformers() == 0:
                    raise ValueError("molecule has no conformers to optimize")
                x0 = np.stack([c.GetPositions() for c in heavy.GetConformers()])
                if not np.isfinite(x0).all():
                    raise ValueError("conformer coordinates are not finite")
                unseen = self.unseen_elements(heavy)
                if unseen:  # returned as given, with a warning
                    self._warn_unseen(heavy, unseen)
                    out[k] = Chem.AddHs(with_conformers(heavy, x0), addCoords=True)
                    continue
                jobs.append((k, heavy, x0, features.featurize(heavy).arrays()))
            except (RuntimeError, ValueError) as exc:
                out[k] = exc
        self.eval()
        group, atoms = [], 0
        for job in jobs + [None]:
            size = 0 if job is None else len(job[2]) * job[2].shape[1]
            if group and (job is None or atoms + size > max_atoms):
                for k, result in self._optimize_group(group):
                    out[k] = result
                group, atoms = [], 0
            if job is not None:
                group.append(job)
                atoms += size
        return out

    def _optimize_group(self, group):
        device = module_device(self)
        items = [{**arrays, "index": k} for k, _, x0, arrays in group for _ in range(len(x0))]
        batch = collate(items, ("full",)).to(device)
        x0 = torch.from_numpy(np.concatenate([x0.reshape(-1, 3) for _, _, x0, _ in group])).float().to(device)
        x = self.optimize_batch(batch, x0).double().cpu().numpy()
        offset = 0
        for k, heavy, start, _ in group:
            size = start.size // 3
            coords = x[offset:offset + size].reshape(start.shape)
            offset += size
            yield k, Chem.AddHs(with_conformers(heavy, coords), addCoords=True)


def _copies(heavy: Chem.Mol, count: int):
    """A batch of ``count`` copies of one molecule's graph (featurized once)."""
    arrays = features.featurize(heavy).arrays()
    return collate([{**arrays, "index": k} for k in range(count)], ("full",))


def _random_start(batch, generator=None) -> torch.Tensor:
    """ConfOpt's random initial coordinates: N(0, (1 + 0.028 N)^2) per molecule of N atoms, drawn
    on the CPU (a CPU generator gives the same starts on every device), on the batch's device."""
    sizes = torch.diff(batch.ptr)
    scale = (1.0 + 0.028 * sizes.float()).repeat_interleave(sizes)[:, None]
    return torch.randn(int(sizes.sum()), 3, generator=generator).to(scale.device) * scale


def _noisy_references(refs: torch.Tensor, K: int, noise_std: float) -> tuple:
    """(starts, drawn), each (K, N, 3): the training starts of the RDKit-init generation setting, K of
    the molecule's (C, N, 3) references drawn uniformly, each plus N(0, sigma^2) noise clamped at 3
    sigma, sigma ~ U(0, noise_std); and the references drawn."""
    drawn = refs[torch.randint(len(refs), (K,))]
    sigma = torch.rand(K, 1, 1) * noise_std
    noise = torch.randn(drawn.shape).clamp(-3.0, 3.0) * sigma
    return drawn + noise.to(drawn), drawn


def _nearest_reference_error(gen: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
    """Mean over the (K, N, 3) samples of the RMS distance-matrix error (A) to each one's closest
    of the (C, N, 3) references."""
    cost = distance_matrix_error(gen[:, None], refs[None])  # (K, C)
    return _root(cost.min(1).values).mean()


def _root(mean_squared: torch.Tensor) -> torch.Tensor:
    """RMS errors (A) from mean squared ones, floored at 1e-12 A^2 so the gradient stays finite at 0."""
    return mean_squared.clamp_min(1e-12).sqrt()


def _repeat_batch(batch, K: int):
    """The batch with every molecule repeated K times (molecule b's copies are b*K .. b*K+K-1)."""
    sizes, device = torch.diff(batch.ptr), batch.ptr.device
    order = torch.arange(batch.num_graphs, device=device).repeat_interleave(K)
    from conformers.data.batch import Batch

    new_sizes = sizes[order]
    ptr = torch.zeros(len(order) + 1, dtype=torch.int64, device=device)
    ptr[1:] = torch.cumsum(new_sizes, 0)
    atom_src = torch.cat([torch.arange(batch.ptr[b], batch.ptr[b + 1], device=device) for b in order.tolist()])
    edge_graph = batch.batch[batch.full_index[0]]
    edges, shift = [], []
    for copy, b in enumerate(order.tolist()):
        sel = torch.nonzero(edge_graph == b).flatten()
        edges.append(sel)
        shift.append(torch.full((sel.numel(),), int(ptr[copy] - batch.ptr[b]), device=device))
    sel, shift = torch.cat(edges), torch.cat(shift)
    return Batch(ptr=ptr, batch=torch.arange(len(order), device=device).repeat_interleave(new_sizes),
                 atomic_numbers=batch.atomic_numbers[atom_src], atom_features=batch.atom_features[atom_src],
                 full_index=batch.full_index[:, sel] + shift, full_bond_type=batch.full_bond_type[sel],
                 full_path_length=batch.full_path_length[sel], full_same_conjugated=batch.full_same_conjugated[sel],
                 full_rotatable=batch.full_rotatable[sel])


def _keep_start_stereo(template, refined: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """refined (C, N, 3) with every conformer whose stereo (perceived from 3D) no longer matches the
    template's replaced by its ETKDG start, which embeds the specified stereo: nine unrolled steps can
    push a centre through planarity (confopt-generation inverted 4% of QM9-sized and 8% of drug-like
    samples), and an inverted centre is a different molecule, never a better conformer."""
    from conformers.metrics.stereo import stereo_matches

    kept = stereo_matches(template, refined)
    if kept.all():
        return refined
    return np.where(kept[:, None, None], refined, starts)



register("confopt", ConfOpt, "ConfOpt TwoAtom refiner of RDKit ETKDG+MMFF conformers (9 unrolled steps): moves each "
         "conformer to its own basin's GFN2-xTB minimum; shipped weights trained on GFN2-xTB ensembles "
         "(checkpoints/confopt_refiner.json)", checkpoint=os.path.join(SHIPPED, "confopt_refiner.pt"))
register("confopt-qm9", ConfOpt, "ConfOpt TwoAtom in the paper's Table 1 setting: RDKit+MMFF starts sent to the QM9 DFT "
         "conformer (trained on QM9 only; one target per molecule, so it collapses ensembles: use confopt for "
         "those; checkpoints/confopt_qm9.json)", checkpoint=os.path.join(SHIPPED, "confopt_qm9.pt"))
register("confopt-generation", ConfOpt, "ConfOpt TwoAtom, generation setting with RDKit init: ETKDG conformers (no "
         "MMFF) moved by 9 unrolled steps toward the GFN2-xTB ensemble, trained on ETKDG starts against each "
         "one's closest xTB reference with bond and angle terms (checkpoints/confopt_generation.json)",
         checkpoint=os.path.join(SHIPPED, "confopt_generation.pt"), setting="generation")
register("confopt-extv", ConfOpt, "ConfOpt Ext_v (cosine proximity of atom states), optimization setting",
         variant="extv")
register("confopt-threeatom", ConfOpt, "ConfOpt ThreeAtom (triplets trimmed to rotatable bonds), optimization setting",
         variant="threeatom")
