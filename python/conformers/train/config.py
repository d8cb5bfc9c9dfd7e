"""Training configuration: a YAML or TOML file, defaults for what it leaves out, CLI overrides."""
from __future__ import annotations

import copy
import os

DEFAULTS = {
    "model": {"name": None, "import": []},  # import: modules that register extra models (plugins)
    "data": {"cache": None, "split": None, "train_split": "train", "val_split": "val", "batch_size": 32,
             "workers": 0, "val_max_batches": None},
    "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.0, "betas": [0.9, 0.999], "eps": 1e-8,
              "clip_grad_norm": None},
    "schedule": {"name": "constant", "warmup_steps": 0, "min_lr_ratio": 0.0, "step_size": 1000, "gamma": 0.5},
    "train": {"max_steps": 1000, "log_every": 10, "val_every": 100, "checkpoint_every": 100,
              "early_stopping_patience": None, "metric": "loss", "seed": 0, "threads": None, "progress": True,
              "precision": "auto", "init_from": None},  # auto: bfloat16 autocast where the CPU/GPU runs it natively;
    # init_from: a checkpoint file or registered model name whose weights start the run (fine-tuning)
}


def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> tuple[list[str], object]:
    """'optim.lr=3e-4' -> (['optim', 'lr'], 0.0003); values are read as YAML scalars."""
    import yaml

    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value")
    key, value = text.split("=", 1)
    return key.strip().split("."), _numbers(yaml.safe_load(value))


def _numbers(value):
    """PyYAML (YAML 1.1) reads 1e-4 as a string; every number-shaped string becomes a number."""
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def load_config(path: str | None, overrides: list[str] = ()) -> dict:
    """Defaults <- file (.yaml/.yml/.toml) <- overrides; checked for unknown sections and keys."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        config = _merge(config, read_config_file(path))
    for text in overrides:
        keys, value = parse_override(text)
        node = config
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {text!r}: {k} is not a section")
        node[keys[-1]] = value
    check_config(config)
    return config


def read_config_file(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no config file at {path}")
    if path.endswith(".toml"):
        import tomllib

        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    else:
        import yaml

        with open(path) as handle:
            data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of sections (model, data, optim, schedule, train)")
    return _numbers(data)


def check_config(config: dict) -> None:
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown config sections {sorted(unknown)}; expected {sorted(DEFAULTS)}")
    for section in ("data", "optim", "schedule", "train"):  # model takes the model's own hyperparameters
        extra = set(config[section]) - set(DEFAULTS[section])
        if extra:
            raise ValueError(f"unknown keys in [{section}]: {sorted(extra)}; expected {sorted(DEFAULTS[section])}")
    if not config["model"].get("name"):
        raise ValueError("config needs model.name (a registered model, see `conformers models`)")
    for key in ("cache", "split"):
        if not config["data"].get(key):
            raise ValueError(f"config needs data.{key}")
    if config["optim"]["name"] not in ("adam", "adamw"):
        raise ValueError(f"optim.name must be adam or adamw, got {config['optim']['name']!r}")
    from conformers._device import PRECISIONS

    if config["train"]["precision"] not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {PRECISIONS}, got {config['train']['precision']!r}")
    if config["schedule"]["name"] not in ("constant", "cosine", "step"):
        raise ValueError(f"schedule.name must be constant, cosine or step, got {config['schedule']['name']!r}")


def dump_config(config: dict, path: str) -> None:
    import yaml

    from conformers._io import atomic_write

    atomic_write(path, lambda handle: yaml.safe_dump(config, handle, sort_keys=False))
