"""The interface every conformer generator implements, and the registry that names them.

A model turns RDKit molecules into conformers: ``sample(mols, n, seed)`` returns, per molecule, the
molecule carrying n conformers (heavy atoms, or with hydrogens) or the exception that stopped it.
Trainable models are torch Modules that also define ``training_step(batch)`` and
``validation_step(batch)`` (dicts of scalar tensors, "loss" first) and ``data_spec`` (what batches
they need); the training engine (conformers.train) does the rest.
"""
from __future__ import annotations

import abc
import contextlib
import contextvars
import importlib.util
import os
import sys
import time
from dataclasses import dataclass

import torch
from rdkit import Chem

from conformers._device import module_device  # noqa: F401  (models' public helpers)
from conformers.data.embedding import with_conformers  # noqa: F401

CHECKPOINT_FORMAT = 1


class ConformerModel(abc.ABC):
    """A conformer generator. ``config`` holds every hyperparameter needed to rebuild it."""

    name: str = ""
    trainable: bool = False
    # per-molecule time budget (s) of RDKit embedding (ETKDG itself, ConfOpt's starts) and of a
    # learned model's sampling; None: unbounded. `conformers generate --timeout` sets it; a molecule
    # past it fails by name.
    timeout: float | None = None
    # molecules per sample() call when generating for users: results are written after each call
    sample_chunk: int = 64

    def __init__(self, **config):
        self.config = dict(config)

    @abc.abstractmethod
    def sample(self, mols: list[Chem.Mol], n: int | list[int], seed: int = 0) -> list:
        """Per molecule: the molecule (atom order kept) with n conformers, or an Exception."""

    def describe(self) -> str:
        return f"{self.name} {self.config}" if self.config else self.name


@dataclass(frozen=True)
class DataSpec:
    """The batches a trainable model consumes (see conformers.data.ConformerDataset / collate)."""
    edges: tuple = ("bond",)
    mode: str = "conformer"          # one item per conformer, or "molecule" with all references
    selection: str = "top_k"
    k: int = 5
    ratio: float = 0.5               # for selection "relative"
    mass: float = 0.95               # for selection "cumulative"
    mols: bool = False               # the batch carries RDKit molecules (costly: only when used)


class SamplingTimeout(TimeoutError):
    """A model's sampling passed its time budget (ConformerModel.timeout per molecule)."""


_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("sampling_deadline", default=None)


@contextlib.contextmanager
def time_budget(seconds: float | None):
    """Sampling inside the block must end within ``seconds`` (None: unbounded): the iterative
    samplers call ``check_time_budget`` once per step, which raises SamplingTimeout past it."""
    token = _DEADLINE.set(None if seconds is None else time.perf_counter() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_time_budget() -> None:
    """Raise SamplingTimeout when the enclosing ``time_budget`` has run out (a no-op outside one)."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.perf_counter() > deadline:
        raise SamplingTimeout("sampling passed its time budget")


def sample_copies(mols, n, edges: tuple, run, max_atoms: int | None = None, device=None,
                  timeout: float | None = None) -> list:
    """The sampling skeleton the graph models share: each molecule's heavy-atom graph featurized
    once (a molecule that cannot be gives its exception in its place), its n copies batched with the
    others' (at most max_atoms atoms per batch, a larger molecule alone; None: one batch) and moved
    to ``device`` (the model's) once, ``run(batch)`` -> (A, 3) coordinates, split back into each
    molecule with its conformers. ``timeout`` (s per molecule; None: unbounded): a batch gets
    timeout x its molecules; one that passes it is sampled again molecule by molecule, so only a
    molecule that alone passes ``timeout`` fails (by SamplingTimeout, naming the budget)."""
    from conformers.data import features

    counts = [n] * len(mols) if isinstance(n, int) else list(n)
    out, pending = [None] * len(mols), []
    for k, (mol, count) in enumerate(zip(mols, counts)):
        try:
            heavy = Chem.RemoveHs(mol)
            pending.append((k, heavy, features.featurize(heavy).arrays(), count))
        except (RuntimeError, ValueError) as exc:
            out[k] = exc
    for chunk in _atom_chunks(pending, max_atoms):
        _sample_chunk(chunk, edges, run, device, timeout, out)
    return out


def _sample_chunk(chunk, edges, run, device, timeout, out) -> None:
    """``sample_copies``' one batch, within its time budget, into ``out``."""
    from conformers.data.batch import collate

    items = [{**arrays, "index": k} for k, _, arrays, count in chunk for _ in range(count)]
    try:
        with time_budget(None if timeout is None else timeout * len(chunk)):
            x = run(collate(items, edges).to(device or "cpu")).double().cpu().numpy()
    except SamplingTimeout:
        if len(chunk) > 1:  # find the slow molecule: the others still get their conformers
            for entry in chunk:
                _sample_chunk([entry], edges, run, device, timeout, out)
            return
        out[chunk[0][0]] = SamplingTimeout(f"sampling took longer than its time budget of {timeout:g} s "
                                           f"per molecule (--timeout)")
        return
    offset = 0
    for k, heavy, _, count in chunk:
        size = heavy.GetNumAtoms() * count
        out[k] = with_conformers(heavy, x[offset:offset + size].reshape(count, -1, 3))
        offset += size


def _atom_chunks(pending, max_atoms):
    chunk, atoms = [], 0
    for entry in pending:
        size = entry[1].GetNumAtoms() * entry[3]
        if chunk and max_atoms is not None and atoms + size > max_atoms:
            yield chunk
            chunk, atoms = [], 0
        chunk.append(entry)
        atoms += size
    if chunk:
        yield chunk


_REGISTRY: dict[str, tuple] = {}
SHIPPED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")  # the shipped weights and records


def register(name: str, factory, description: str, checkpoint: str | None = None, **defaults) -> None:
    """Make ``factory(**config)`` available as ``name`` to create_model, train, generate, evaluate;
    ``checkpoint`` is the shipped weights of a trainable model (loaded by ``load_model(name)``)."""
    _REGISTRY[name] = (factory, description, defaults, checkpoint)


def available() -> dict[str, str]:
    """Registered model names and what each is."""
    return {name: entry[1] for name, entry in sorted(_REGISTRY.items())}


def weights_status(name: str) -> str:
    """What ``name`` runs on: RDKit alone, its shipped weights and what they were trained on (from
    the record beside the checkpoint), or none yet (a trainable model without shipped weights)."""
    factory, _, _, checkpoint = _REGISTRY[name]
    if not getattr(factory, "trainable", False):
        return "no weights (RDKit)"
    if not checkpoint:
        return "no shipped weights: train one (conformers train) and pass RUN/best.pt"
    record_path = os.path.splitext(checkpoint)[0] + ".json"
    trained_on = ""
    if os.path.isfile(record_path):
        import json

        with open(record_path) as handle:
            record = json.load(handle)
        data = record.get("training_data", [])
        trained_on = "; trained on " + ", ".join(f"{d.get('cache')} ({d.get('train')} train)" for d in data
                                                  if isinstance(d, dict))
    return f"weights {os.path.basename(checkpoint)}{trained_on}"


def available_checkpoints() -> dict[str, str]:
    """Registered model name -> its shipped checkpoint file, for the models that ship weights."""
    return {name: entry[3] for name, entry in _REGISTRY.items() if entry[3]}


def create_model(name: str, **config) -> ConformerModel:
    """``name``'s model with ``config`` over its registered defaults; a ValueError names a setting
    the model does not have or a value of the wrong type (a config typo, ``--model-set mmff=banana``)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available())}")
    factory, _, defaults, _ = _REGISTRY[name]
    _check_settings(name, factory, config)
    return factory(**{**defaults, **config})


def _check_settings(name: str, factory, config: dict) -> None:
    import inspect

    params = inspect.signature(factory).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    known = {k: p.default for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    for key, value in config.items():
        if key not in known:
            raise ValueError(f"model {name!r} has no setting {key!r}; its settings: {', '.join(sorted(known))}")
        default = known[key]
        expected = (bool,) if isinstance(default, bool) else (int,) if isinstance(default, int) else \
            (int, float) if isinstance(default, float) else (str,) if isinstance(default, str) else None
        if expected and (not isinstance(value, expected) or (bool not in expected and isinstance(value, bool))):
            raise ValueError(f"model {name!r}: setting {key} takes {' or '.join(t.__name__ for t in expected)} "
                             f"(default {default!r}), got {value!r}")


def save_checkpoint(model, path: str, extra: dict | None = None) -> None:
    """A model's weights and config, written atomically (temporary file, then rename)."""
    _save_atomically({"format": CHECKPOINT_FORMAT, "model": model.name, "config": model.config,
                      "state_dict": model.state_dict(), **(extra or {})}, path)


def _save_atomically(payload: dict, path: str) -> None:
    """torch.save to a temporary file, then a rename: never a half-written checkpoint at ``path``."""
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(payload, tmp)
    os.replace(tmp, path)


EXPORT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def export_checkpoint(source: str, path: str, dtype: str = "float32", settings: dict | None = None) -> dict:
    """The model of a checkpoint (RUN/best.pt or RUN/checkpoints/last.pt, whose optimizer state is
    left out) written to ``path`` with its floating-point weights stored as ``dtype``: what ships.
    Loading casts them back to the model's float32 parameters. ``settings`` change the stored model
    config (sampler settings users get by default); one that does not fit the weights is refused.
    Returns the written payload."""
    if dtype not in EXPORT_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(EXPORT_DTYPES)}, got {dtype!r}")
    payload = read_checkpoint(source)
    target = EXPORT_DTYPES[dtype]
    payload = {**payload, "config": {**payload["config"], **(settings or {})},
               "state_dict": {k: v.to(target) if v.is_floating_point() else v
                              for k, v in payload["state_dict"].items()}, "weights_dtype": dtype}
    try:  # loads as shipped
        create_model(payload["model"], **payload["config"]).load_state_dict(payload["state_dict"])
    except (TypeError, RuntimeError) as exc:
        raise ValueError(f"the settings {settings} do not fit a {payload['model']} model with these weights: "
                         f"{' '.join(str(exc).split())[:300]}") from None
    _save_atomically(payload, path)
    return payload


def read_checkpoint(path: str) -> dict:
    """The checkpoint dict; a clear error for a missing, truncated or foreign file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable checkpoint (corrupt or truncated?): "
                         f"{type(exc).__name__}: {exc}") from None
    if _is_training_state(payload):
        return _model_payload(payload)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or "model" not in payload:
        raise ValueError(f"{path} is not a conformers checkpoint (format {CHECKPOINT_FORMAT}) nor a training "
                         f"checkpoint (RUN/checkpoints/last.pt)")
    return payload


def _is_training_state(payload) -> bool:
    """A `conformers train` checkpoint (RUN/checkpoints/last.pt: weights, optimizer, run config)."""
    return (isinstance(payload, dict) and "version" in payload and isinstance(payload.get("model"), dict)
            and isinstance(payload.get("config"), dict) and isinstance(payload["config"].get("model"), dict))


def _model_payload(state: dict) -> dict:
    """The model checkpoint inside a training checkpoint, so the last step's weights load like
    best.pt's."""
    name, settings = model_settings(state["config"]["model"])
    return {"format": CHECKPOINT_FORMAT, "model": name, "step": state.get("step"), "config": settings,
            "state_dict": state["model"]}


def model_settings(section: dict) -> tuple[str, dict]:
    """(name, constructor settings) of a run config's model section, its plugins (``import``)
    imported so that their models are registered: what `conformers train` builds, and what its
    checkpoints load as."""
    for module in section.get("import") or []:
        import_plugin(module)
    return section["name"], {k: v for k, v in section.items() if k not in ("name", "import")}


def import_plugin(module: str) -> None:
    """Import a module (dotted name, or a .py file path) that registers models on import."""
    try:
        if module.endswith(".py"):
            if not os.path.isfile(module):
                raise FileNotFoundError(f"no plugin file at {module}")
            name = "conformers_plugin_" + os.path.splitext(os.path.basename(module))[0]
            spec = importlib.util.spec_from_file_location(name, module)
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[name] = loaded
            spec.loader.exec_module(loaded)
        else:
            importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"model.import {module!r} could not be imported: {exc}") from None


def load_model(name_or_path: str, **overrides) -> ConformerModel:
    """A registered model ready to sample (a trainable one from its shipped checkpoint), or a
    checkpoint file. A trainable model without a shipped checkpoint is refused rather than run
    with untrained weights."""
    if name_or_path in _REGISTRY:
        shipped = _REGISTRY[name_or_path][3]
        if shipped:
            return load_model(shipped, **overrides)
        model = create_model(name_or_path, **overrides)
        if getattr(model, "trainable", False):
            raise ValueError(f"model {name_or_path!r} has no shipped checkpoint yet: train one with "
                             f"`conformers train` and pass the checkpoint's path (e.g. RUN/best.pt) instead")
        return model
    if os.path.isfile(name_or_path) or name_or_path.endswith((".pt", ".pth", ".ckpt")):
        payload = read_checkpoint(name_or_path)
        model = create_model(payload["model"], **{**payload["config"], **overrides})
        try:
            model.load_state_dict(payload["state_dict"])
        except (RuntimeError, KeyError, TypeError) as exc:  # missing, unexpected or reshaped weights
            detail = " ".join(str(exc).split())
            raise ValueError(f"{name_or_path}: its weights do not fit a {payload['model']} model with its config "
                             f"(edited or from another version?): {detail[:300]}") from None
        return model
    raise ValueError(f"unknown model {name_or_path!r}; available: {', '.join(available())} (or a checkpoint path)")
