"""Seeded, reproducible train/val/test splits by molecule, leakage-checked by connectivity identity."""
from __future__ import annotations

import json
import os
from collections import defaultdict

import numpy as np

from .._io import write_json
from .geom import leakage_key

SPLITS = ("train", "val", "test")


def _quota(n, total: int) -> int:
    """An int is a count, a float in (0, 1) a fraction of the molecules, None all that remain."""
    if n is None:
        return total
    if isinstance(n, float) and 0 < n < 1:
        return int(round(n * total))
    if int(n) < 0:
        raise ValueError(f"split sizes must be >= 0, got {n}")
    return int(n)


def make_split(smiles: list[str], num_conformers: list[int], *, n_train=40_000, n_val=5_000, n_test=200,
               seed: int = 2021, min_train_conformers: int = 1, test_conformer_range=(1, None)) -> dict:
    """Split molecules as ConfGF/DMCG's small-scale protocol does, but leakage-free.

    Molecules sharing a connectivity identity (InChIKey first block: stereoisomers, other
    spellings) form one group and land in one split. Groups are shuffled with ``seed``; test takes
    groups whose molecules all have a conformer count in ``test_conformer_range`` (ConfGF: 50-500
    QM9, 50-100 Drugs), then val and train take groups with >= ``min_train_conformers`` (ConfGF: 5).

    Returns {"train"/"val"/"test": [SMILES...], "seed", "protocol"}; write it with :func:`save_split`.
    """
    if len(smiles) != len(num_conformers):
        raise ValueError("smiles and num_conformers must have the same length")
    groups = defaultdict(list)
    for i, s in enumerate(smiles):
        groups[leakage_key(s)].append(i)
    keys = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    lo, hi = test_conformer_range
    hi = float("inf") if hi is None else hi
    quota = {"test": _quota(n_test, len(smiles)), "val": _quota(n_val, len(smiles)),
             "train": _quota(n_train, len(smiles))}
    out = {name: [] for name in SPLITS}
    for g in order:
        members = groups[keys[g]]
        counts = [num_conformers[i] for i in members]
        if len(out["test"]) < quota["test"] and all(lo <= c <= hi for c in counts):
            target = "test"
        elif min(counts) < min_train_conformers:
            continue
        elif len(out["val"]) < quota["val"]:
            target = "val"
        elif len(out["train"]) < quota["train"]:
            target = "train"
        else:
            continue
        out[target] += [smiles[i] for i in members]
    check_leakage(out)
    out["seed"] = seed
    out["protocol"] = {"n_train": n_train, "n_val": n_val, "n_test": n_test,
                       "min_train_conformers": min_train_conformers,
                       "test_conformer_range": [lo, None if hi == float("inf") else hi],
                       "leakage_key": "InChIKey first block (stereo-free connectivity)"}
    return out


def check_leakage(split: dict) -> None:
    """ValueError naming the molecules whose connectivity identity appears in two splits."""
    seen = {}
    clashes = []
    for name in SPLITS:
        for s in split.get(name, []):
            key = leakage_key(s)
            if key in seen and seen[key][0] != name:
                clashes.append(f"{seen[key][1]} ({seen[key][0]}) / {s} ({name})")
            seen.setdefault(key, (name, s))
    if clashes:
        raise ValueError(f"train/val/test leakage: {len(clashes)} molecules share a connectivity identity: "
                         + "; ".join(clashes[:5]))


def save_split(split: dict, path: str) -> None:
    write_json(path, split)


def load_split(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no split file at {path}")
    with open(path) as handle:
        split = json.load(handle)
    missing = [s for s in SPLITS if s not in split]
    if missing:
        raise ValueError(f"{path} is not a split file: missing {missing}")
    return split


def split_members(path: str, name: str) -> list:
    """The molecules (SMILES) of one split of a split file; a ValueError names an unknown split."""
    split = load_split(path)
    names = [key for key, members in split.items() if isinstance(members, list)]  # not seed, protocol
    if name not in names:
        raise ValueError(f"{path} has no split {name!r}; its splits: {', '.join(names)}")
    return split[name]
