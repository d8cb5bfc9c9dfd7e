"""The training engine: seeded, resumable bit-for-bit, data-parallel with torch.distributed.

Run folder: config.yaml (resolved), log.csv (step, epoch, split, name, value), checkpoints/last.pt
(everything needed to resume: model, optimizer, scheduler, RNG states, data position), best.pt
(model checkpoint chosen on the validation metric, loadable by ``conformers.models.load_model``),
final.json. All files are written atomically (temporary file, then rename).

Data order does not depend on workers or processes: epoch e visits a permutation drawn from
(seed, e), cut into global batches of ``data.batch_size``; with W processes, rank r takes the r-th
W-th of every global batch and DistributedDataParallel averages the gradients, which equals the
single-process step for losses that are means over molecules.
"""
from __future__ import annotations

import csv
import math
import os
import random
import time
import warnings

import numpy as np
import torch
import torch.distributed as dist

from conformers._io import atomic_write, write_json
from conformers.data import Collater, ConformerDataset, MoleculeCache, Selection, load_split
from conformers.models import create_model, model_settings, save_checkpoint
from conformers.models.base import available_checkpoints, read_checkpoint

from conformers._device import autocast_dtype, resolve_device

from .config import dump_config

CHECKPOINT_VERSION = 1


def lr_lambda(schedule: dict, max_steps: int):
    """Multiplier of the base learning rate at each step: linear warm-up, then constant, step decay
    or cosine to min_lr_ratio, held there after max_steps (DMCG's schedule oscillates; ours is clamped)."""
    warmup, floor = int(schedule["warmup_steps"]), float(schedule["min_lr_ratio"])
    name = schedule["name"]

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if name == "constant":
            return 1.0
        if name == "step":
            return schedule["gamma"] ** ((step - warmup) // schedule["step_size"])
        progress = min(1.0, (step - warmup) / max(1, max_steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class _Batches(torch.utils.data.Sampler):
    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


MAX_SKIPPED_STEPS = 20  # steps with non-finite gradients skipped before a run gives up


class Trainer:
    def __init__(self, config: dict, out: str, resume: bool = False):
        self.config, self.out = config, out
        train = config["train"]
        # the device first: under torchrun it picks the process group's backend (NCCL on CUDA)
        self.device = resolve_device(train["device"])
        self.rank, self.world = _distributed_setup(self.device)
        if train["threads"]:
            torch.set_num_threads(int(train["threads"]))
        name, settings = model_settings(config["model"])  # imports the run's model plugins
        _seed_everything(train["seed"])
        self.model = create_model(name, **settings)
        if train["init_from"] and not resume:
            _initialize_from(self.model, train["init_from"], train["init_fresh"])
        self.model.to(self.device)  # once: batches follow it, the optimizer is built on its parameters
        # mixed precision: GEMMs in bfloat16 under autocast, float32 master weights and optimizer
        self.autocast_dtype = autocast_dtype(train["precision"], self.device)
        if not getattr(self.model, "trainable", False):
            raise ValueError(f"model {config['model']['name']!r} is not trainable")
        self.train_set, self.val_set = self._datasets()
        self.optimizer = self._optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(config["schedule"],
                                                                                     train["max_steps"]))
        self.step = self.epoch = self.position = 0
        self.best, self.bad_evals, self.skipped_steps = math.inf, 0, 0
        self.last_path = os.path.join(out, "checkpoints", "last.pt")
        if self.rank == 0:
            os.makedirs(os.path.join(out, "checkpoints"), exist_ok=True)
        if resume:
            self._resume()
            if self.rank == 0:  # the saved config with what the resume changed on purpose (--set)
                dump_config(config, os.path.join(out, "config.yaml"))
        elif self.rank == 0:
            if os.path.isfile(self.last_path):
                raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or use a new folder")
            dump_config(config, os.path.join(out, "config.yaml"))
            _reset_log(os.path.join(out, "log.csv"), 0)
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.ddp = (torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids) if self.world > 1
                    else self.model)

    # --- data -------------------------------------------------------------------------------------
    def _datasets(self):
        data, spec = self.config["data"], self.model.data_spec
        cache = MoleculeCache(data["cache"])
        split = load_split(data["split"])
        selection = Selection(spec.selection, k=spec.k, mass=spec.mass, ratio=spec.ratio)
        make = lambda name: ConformerDataset.from_split(cache, split, name, selection=selection, mode=spec.mode)
        train = make(data["train_split"])
        val = make(data["val_split"]) if split.get(data["val_split"]) else None
        global_batch = data["batch_size"]
        if global_batch % self.world:
            raise ValueError(f"data.batch_size {global_batch} must be divisible by the {self.world} processes")
        if len(train) < global_batch:
            raise ValueError(f"the training split has {len(train)} items, fewer than one batch of {global_batch}")
        return train, val

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's share of every global batch of the epoch (incomplete last batch dropped)."""
        B, W = self.config["data"]["batch_size"], self.world
        g = torch.Generator().manual_seed(self.config["train"]["seed"] * 1_000_003 + epoch)
        order = torch.randperm(len(self.train_set), generator=g).tolist()
        share = B // W
        return [order[k + self.rank * share:k + (self.rank + 1) * share] for k in range(0, len(order) - B + 1, B)]

    def _loader(self, dataset, batches):
        spec = self.model.data_spec
        workers = self.config["data"]["workers"]
        # the loader's own generator: creating an iterator draws its workers' base seed, which from
        # the global RNG would shift every later draw of the model (a resumed run creates one more)
        seeds = torch.Generator().manual_seed(self.config["train"]["seed"] * 1_000_003 + self.epoch)
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=_Batches(batches), num_workers=workers,
                                             collate_fn=Collater(dataset, spec.edges, spec.mols),
                                             pin_memory=self.device.type == "cuda", generator=seeds)
        # one host-to-device copy per batch, overlapped with compute from pinned memory
        return (batch.to(self.device, non_blocking=True) for batch in loader)

    def _optimizer(self):
        o = self.config["optim"]
        cls = torch.optim.AdamW if o["name"] == "adamw" else torch.optim.Adam
        return cls(self.model.parameters(), lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"],
                   weight_decay=o["weight_decay"])

    # --- loop -------------------------------------------------------------------------------------
    def fit(self) -> dict:
        from tqdm import tqdm

        t = self.config["train"]
        bar = tqdm(total=t["max_steps"], initial=self.step, unit="step", desc="train",
                   disable=self.rank != 0 or not t["progress"])
        stop, start = False, time.perf_counter()
        while self.step < t["max_steps"] and not stop:
            batches = self._epoch_batches(self.epoch)[self.position:]
            for batch in self._loader(self.train_set, batches):
                logs = self._train_step(batch)
                self.step += 1
                self.position += 1
                bar.update(1)
                if self.step % t["log_every"] == 0:
                    self._log("train", {**logs, "lr": self.scheduler.get_last_lr()[0]})
                if self.val_set is not None and self.step % t["val_every"] == 0:
                    stop = self._validate()
                if self.step % t["checkpoint_every"] == 0 or stop or self.step >= t["max_steps"]:
                    self._save()
                if stop or self.step >= t["max_steps"]:
                    break
            else:
                self.epoch, self.position = self.epoch + 1, 0
        bar.close()
        return self._finish(time.perf_counter() - start, stop)

    def _train_step(self, batch) -> dict:
        self.model.train()
        if hasattr(self.model, "set_training_progress"):  # schedules inside the model (DMCG's KL weight)
            self.model.set_training_progress(self.step, self.config["train"]["max_steps"])
        with self._autocast():
            losses = self.ddp(batch)
        loss = losses["loss"].float()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # a non-finite loss gives non-finite gradients: the step is skipped below
        clip = self.config["optim"]["clip_grad_norm"]
        logs = {k: float(v.detach()) for k, v in losses.items()}
        norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip or float("inf")))
        logs["grad_norm"] = norm
        if not math.isfinite(norm):  # a non-finite gradient would poison every parameter: skip the step
            self.skipped_steps += 1
            logs["skipped_steps"] = self.skipped_steps
            if self.skipped_steps > MAX_SKIPPED_STEPS:
                raise FloatingPointError(f"non-finite gradients in {self.skipped_steps} steps (last at step {self.step})")
            with warnings.catch_warnings():  # the schedule follows the step count, skipped or not
                warnings.simplefilter("ignore", UserWarning)
                self.scheduler.step()
        else:
            self.optimizer.step()
            self.scheduler.step()
        return logs

    @torch.no_grad()
    def _validate(self) -> bool:
        """Validation over the val split (fixed order); True when early stopping says stop."""
        self.model.eval()
        limit = self.config["data"]["val_max_batches"]
        B = max(1, self.config["data"]["batch_size"] // self.world)
        idx = list(range(len(self.val_set)))[self.rank::self.world]
        batches = [idx[k:k + B] for k in range(0, len(idx), B)][:limit]
        rng = torch.get_rng_state()  # validation must not perturb the training random stream,
        torch.manual_seed(self.config["train"]["seed"] + 7919)  # and draws the same noise every time
        totals, count = {}, 0
        for batch in self._loader(self.val_set, batches):
            with self._autocast():
                step = self.model.validation_step(batch)
            for k, v in step.items():
                totals[k] = totals.get(k, 0.0) + float(v) * batch.num_graphs
            count += batch.num_graphs
        torch.set_rng_state(rng)
        metrics = _all_reduce_means(totals, count, self.world, self.device)
        self._log("val", metrics)
        metric = metrics[self.config["train"]["metric"]]
        if metric < self.best:
            self.best, self.bad_evals = metric, 0
            if self.rank == 0:
                save_checkpoint(self.model, os.path.join(self.out, "best.pt"),
                                {"step": self.step, "val": metrics, "config_file": self.config})
        else:
            self.bad_evals += 1
        patience = self.config["train"]["early_stopping_patience"]
        return bool(patience and self.bad_evals >= patience)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.bfloat16, enabled=self.autocast_dtype is not None)

    # --- state ------------------------------------------------------------------------------------
    def _save(self) -> None:
        if self.rank != 0:
            return
        state = {"version": CHECKPOINT_VERSION, "step": self.step, "epoch": self.epoch, "position": self.position,
                 "best": self.best, "bad_evals": self.bad_evals, "skipped_steps": self.skipped_steps, "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                         "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None},
                 "config": self.config}
        atomic_write(self.last_path, lambda handle: torch.save(state, handle), "wb")

    def _resume(self) -> None:
        if not os.path.isfile(self.last_path):
            raise FileNotFoundError(f"nothing to resume: no checkpoint at {self.last_path}")
        try:
            state = torch.load(self.last_path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ValueError(f"{self.last_path} is not a readable checkpoint (corrupt or truncated?): {exc}") from None
        if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{self.last_path} is not a training checkpoint of this version")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.best, self.bad_evals = state["best"], state["bad_evals"]
        self.skipped_steps = state.get("skipped_steps", 0)
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        if self.device.type == "cuda" and state["rng"].get("cuda") is not None:  # else: written on another device
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        if self.rank == 0:
            _reset_log(os.path.join(self.out, "log.csv"), self.step)  # drop rows the killed run logged later

    def _log(self, split: str, values: dict) -> None:
        if self.rank != 0:
            return
        with open(os.path.join(self.out, "log.csv"), "a", newline="") as handle:
            writer = csv.writer(handle)
            for name, value in values.items():
                writer.writerow([self.step, self.epoch, split, name, repr(float(value))])

    def _finish(self, seconds: float, stopped: bool) -> dict:
        in_sync = _ranks_in_sync(self.model, self.world, self.device)
        final = {"step": self.step, "epoch": self.epoch, "best_val": None if math.isinf(self.best) else self.best,
                 "early_stopped": stopped, "world_size": self.world, "ranks_in_sync": in_sync,
                 "device": str(self.device),
                 "seconds_this_run": round(seconds, 2)}
        if self.rank == 0:
            write_json(os.path.join(self.out, "final.json"), final)
        return final


def _initialize_from(model, source: str, fresh: list = ()) -> None:
    """Fine-tuning: the run starts from the weights of ``source`` (a checkpoint file, RUN/best.pt or
    RUN/checkpoints/last.pt, or a registered model's shipped checkpoint) with a fresh optimizer and
    schedule. The submodules named in ``fresh`` (state-dict prefixes) keep their new initialization,
    so a part whose architecture changed (a new encoder) trains from scratch beside the rest. Every
    other key must match: a clear error names those that do not."""
    source = available_checkpoints().get(source, source)
    payload = read_checkpoint(source)
    if payload["model"] != model.name:
        raise ValueError(f"train.init_from {source!r} holds a {payload['model']!r} model, not {model.name!r}")

    def under(key, name):
        return key == name or key.startswith(name + ".")

    def loaded(state):  # the weights init_from provides: all but those under the fresh submodules
        return {k: v for k, v in state.items() if not any(under(k, name) for name in fresh)}

    state = model.state_dict()
    unknown = [name for name in fresh if not any(under(k, name) for k in state)]
    if unknown:
        raise ValueError(f"train.init_fresh names {unknown}, not submodules of the {model.name!r} model")
    own, theirs = loaded(state), loaded(payload["state_dict"])
    missing = sorted(set(own) - set(theirs))
    unexpected = sorted(set(theirs) - set(own))
    shapes = sorted(k for k in set(own) & set(theirs) if own[k].shape != theirs[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(f"train.init_from {source!r} does not fit this model's architecture (config "
                         f"{payload['config']}): missing {missing[:5]}, unexpected {unexpected[:5]}, "
                         f"other shapes {shapes[:5]}")
    model.load_state_dict(theirs, strict=not fresh)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _distributed_setup(device: torch.device) -> tuple[int, int]:
    """(rank, world size) under torchrun (WORLD_SIZE > 1), else (0, 1). gloo on CPU, NCCL on CUDA
    (each rank on its own GPU: resolve_device reads LOCAL_RANK)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _all_reduce_means(totals: dict, count: int, world: int, device: torch.device) -> dict:
    keys = sorted(totals)  # on the run's device: NCCL reduces CUDA tensors only
    values = torch.tensor([totals[k] for k in keys] + [count], dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(values)
    return {k: float(values[i] / values[-1]) for i, k in enumerate(keys)}


def _ranks_in_sync(model, world: int, device: torch.device) -> bool:
    """Every rank holds rank 0's parameters, bit for bit."""
    if world <= 1:
        return True
    flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
    reference = flat.clone()
    dist.broadcast(reference, 0)
    same = torch.tensor([float(torch.equal(flat, reference))], device=device)
    dist.all_reduce(same, op=dist.ReduceOp.MIN)
    return bool(same.item())


def _reset_log(path: str, keep_until_step: int) -> None:
    rows = []
    if keep_until_step and os.path.isfile(path):
        with open(path, newline="") as handle:
            rows = [r for r in csv.reader(handle) if r and r[0] != "step" and int(r[0]) <= keep_until_step]
    def write(handle):
        writer = csv.writer(handle)
        writer.writerow(["step", "epoch", "split", "name", "value"])
        writer.writerows(rows)

    atomic_write(path, write)


def train(config: dict, out: str, resume: bool = False) -> dict:
    """Train ``config``'s model into the run folder ``out``; returns final.json's content."""
    try:
        return Trainer(config, out, resume).fit()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
