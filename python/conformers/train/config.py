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
              "precision": "auto", "init_from": None, "init_fresh": [], "device": "auto"},
    # precision auto: bfloat16 autocast on a GPU that runs it natively, float32 on a CPU; init_from: a checkpoint
    # file or registered model name whose weights start the run (fine-tuning); init_fresh: submodules (state-dict
    # prefixes such as "encoder") that keep their fresh initialization instead; device: auto (CUDA
    # when available; under torchrun each rank's own GPU), cpu, cuda or cuda:N
}


# Numeric settings: (type, lowest allowed, highest allowed or None, None allowed). POSITIVE: the
# lowest value itself is excluded where 0 would make no sense (eps, a clip norm, a decay factor).
NUMBERS = {
    "data": {"batch_size": (int, 1, None, False), "workers": (int, 0, None, False),
             "val_max_batches": (int, 1, None, True)},
    "optim": {"lr": (float, 0.0, None, False), "weight_decay": (float, 0.0, None, False),
              "eps": (float, 0.0, None, False), "clip_grad_norm": (float, 0.0, None, True)},
    "schedule": {"warmup_steps": (int, 0, None, False), "min_lr_ratio": (float, 0.0, 1.0, False),
                 "step_size": (int, 1, None, False), "gamma": (float, 0.0, None, False)},
    "train": {"max_steps": (int, 1, None, False), "log_every": (int, 1, None, False),
              "val_every": (int, 1, None, False), "checkpoint_every": (int, 1, None, False),
              "early_stopping_patience": (int, 1, None, True), "seed": (int, 0, 2 ** 32 - 1, False),
              "threads": (int, 1, None, True)},
}
POSITIVE = {("optim", "eps"), ("optim", "clip_grad_norm"), ("schedule", "gamma")}  # lr 0 freezes (tests)


def _check_numbers(config: dict) -> None:
    """Every numeric setting has its type and range, or a ValueError names it (a negative batch
    size looped forever, checkpoint_every 0 divided by zero)."""
    for section, rules in NUMBERS.items():
        for key, (kind, low, high, optional) in rules.items():
            value = config[section][key]
            if value is None and optional:
                continue
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = number and (kind is float or float(value).is_integer()) and value >= low
            ok = ok and (high is None or value <= high) and ((section, key) not in POSITIVE or value > 0)
            if not ok:  # NaN fails value >= low
                kind_name = "an integer" if kind is int else "a number"
                bounds = f"> {low}" if (section, key) in POSITIVE else f">= {low}"
                bounds += f" and <= {high}" if high is not None else ""
                raise ValueError(f"{section}.{key} must be {kind_name} {bounds}{' (or null)' if optional else ''}, "
                                 f"got {value!r}")
            config[section][key] = kind(value)
    betas = config["optim"]["betas"]
    if not (isinstance(betas, (list, tuple)) and len(betas) == 2
            and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
        raise ValueError(f"optim.betas must be two numbers in [0, 1), got {betas!r}")


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
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value")
    key, value = text.split("=", 1)
    return key.strip().split("."), _numbers(yaml_value(value, f"override {text!r}"))


def parse_model_set(items) -> dict:
    """``--model-set KEY=VALUE`` arguments (generate, evaluate, export) as a dict of model config
    overrides, values read as YAML; a ValueError names an item without '='."""
    overrides = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--model-set takes KEY=VALUE, got {item!r}")
        overrides[key.strip()] = yaml_value(value, f"--model-set {item!r}")
    return overrides


def yaml_value(text_or_stream, what: str):
    """yaml.safe_load, its syntax errors as a ValueError naming ``what`` (a file, an override)."""
    import yaml

    try:
        return yaml.safe_load(text_or_stream)
    except yaml.YAMLError as exc:
        raise ValueError(f"{what} is not valid YAML: {' '.join(str(exc).split())}") from None


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
            try:
                data = tomllib.load(handle)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path} is not valid TOML: {exc}") from None
    else:
        with open(path) as handle:
            data = yaml_value(handle, path)
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
    _check_numbers(config)
    if not config["model"].get("name"):
        raise ValueError("config needs model.name (a registered model, see `conformers models`)")
    for key in ("cache", "split"):
        if not config["data"].get(key):
            raise ValueError(f"config needs data.{key}")
    if config["optim"]["name"] not in ("adam", "adamw"):
        raise ValueError(f"optim.name must be adam or adamw, got {config['optim']['name']!r}")
    from conformers._device import PRECISIONS, parse_device

    if config["train"]["precision"] not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {PRECISIONS}, got {config['train']['precision']!r}")
    try:
        parse_device(config["train"]["device"])
    except ValueError as exc:
        raise ValueError(f"train.{exc}") from None
    fresh = config["train"]["init_fresh"]
    if not (isinstance(fresh, list) and all(isinstance(name, str) and name for name in fresh)):
        raise ValueError(f"train.init_fresh must be a list of submodule names, got {fresh!r}")
    if fresh and not config["train"]["init_from"]:
        raise ValueError("train.init_fresh needs train.init_from (the weights the other submodules start from)")
    if config["schedule"]["name"] not in ("constant", "cosine", "step"):
        raise ValueError(f"schedule.name must be constant, cosine or step, got {config['schedule']['name']!r}")


def dump_config(config: dict, path: str) -> None:
    import yaml

    from conformers._io import atomic_write

    atomic_write(path, lambda handle: yaml.safe_dump(config, handle, sort_keys=False))


def resume_config(run: str, path: str | None, overrides: list[str] = ()) -> dict:
    """The config a resumed run continues with: the run's own config.yaml, with ``overrides``
    (what the command line asks to change, e.g. train.max_steps=5000) on top. A config file whose
    values differ from the saved ones elsewhere is refused, naming the keys, so that a resume
    never silently trains a different run."""
    saved_path = os.path.join(run, "config.yaml")
    if not os.path.isfile(saved_path):
        raise FileNotFoundError(f"nothing to resume: no config.yaml in {run}")
    saved = load_config(saved_path, overrides)
    if path is not None:
        asked = {tuple(parse_override(text)[0]) for text in overrides}
        given = load_config(path, overrides)
        differing = [".".join(k) for k in _leaves(given) if k not in asked and _get(given, k) != _get(saved, k)]
        if differing:
            raise ValueError(f"{path} differs from the run's saved {saved_path} in {', '.join(differing)}; a resume "
                             "continues the saved run: pass a changed value with --set to change it on purpose")
    return saved


def _leaves(config: dict, prefix: tuple = ()):
    for key, value in config.items():
        if isinstance(value, dict):
            yield from _leaves(value, prefix + (key,))
        else:
            yield prefix + (key,)


def _get(config: dict, keys: tuple):
    for k in keys:
        if not isinstance(config, dict) or k not in config:
            return None
        config = config[k]
    return config

