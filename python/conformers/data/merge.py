"""Several prepared caches as one, for joint training (QM9's DFT conformers with GFN2-xTB ensembles):
the sources' shards linked into one cache, and their splits united without leakage.

The merged split.json lists molecules by their position in the merged cache (integers): the same
SMILES can name a molecule in two sources (a QM9 molecule and its xTB ensemble), and each entry
must keep its own conformers. A molecule whose connectivity identity is in any source's test or validation split is dropped from
every other source's train split, and one in any test split from the other validation splits
(counted), so that a model trained on the union never sees a
held-out molecule of any source: QM9 and the NCI molecules share small molecules.
"""
from __future__ import annotations

import json
import os
import shutil

from .._io import write_json
from .cache import CACHE_VERSION, MoleculeCache
from .geom import leakage_key
from .split import SPLITS, check_leakage, load_split

COMPATIBLE = ("version", "hydrogens", "max_permutations", "atom_features", "bond_features")


def merge_caches(sources: list[str], out: str, repeat: list[int] | None = None,
                 use: list[dict] | None = None, held_out: list[str] = ()) -> dict:
    """Merge prepared caches (each with its split.json) into ``out``; returns the report written to
    out/report.json. ``repeat[k]``: source k's train molecules are listed that many times in the
    merged train split (oversampling a small source). ``use[k]`` maps a merged split name to the
    list of source k's split file that fills it (default the same name; e.g. {"train":
    "train_with_starts"} for QM9's molecules with stored starts). Shards are hard-linked where
    possible, else copied. ``held_out``: caches (each with its split.json) that contribute no
    molecules, only their val and test lists, held out as the sources' are (QM9's test split, when
    training on ensembles of QM9 molecules without QM9's own conformers)."""
    if len(sources) + len(held_out) < 2:
        raise ValueError("merge needs at least two caches (sources and held-out caches together)")
    repeat = list(repeat or [1] * len(sources))
    use = list(use or [{}] * len(sources))
    if len(repeat) != len(sources) or any(int(r) < 1 for r in repeat) or len(use) != len(sources):
        raise ValueError(f"repeat must give a count >= 1 (and use a mapping) for each of the {len(sources)} caches")
    caches = [MoleculeCache(s) for s in sources]
    first = caches[0].meta
    for path, cache in zip(sources[1:], caches[1:]):
        differing = [k for k in COMPATIBLE if cache.meta.get(k) != first.get(k)]
        if differing:
            raise ValueError(f"{path} was prepared with other settings than {sources[0]} ({', '.join(differing)})")
    splits = [load_split(os.path.join(s, "split.json")) for s in sources]
    for path, split, mapping in zip(sources, splits, use):
        unknown = [v for v in mapping.values() if v not in split]
        if unknown or set(mapping) - set(SPLITS):
            raise ValueError(f"{path}: cannot fill {sorted(mapping)} from {unknown or sorted(mapping.values())}")
    if os.path.exists(out):
        raise FileExistsError(f"{out} exists; merge into a new folder")
    os.makedirs(os.path.join(out, "shards"))
    shard = 0
    for cache in caches:
        for src in cache._shards:
            _link_tree(src, os.path.join(out, "shards", f"{shard:05d}"))
            shard += 1
    others = [load_split(os.path.join(h, "split.json")) for h in held_out]
    if any(o.get("key") == "position" for o in others):
        raise ValueError("a held-out cache must list molecules by SMILES (a prepared cache, not a merged one)")
    held = {leakage_key(s) for split in splits + others for name in ("val", "test") for s in split.get(name, [])}
    tests = {leakage_key(s) for split in splits + others for s in split.get("test", [])}
    offsets = [sum(len(c) for c in caches[:k]) for k in range(len(caches))]
    merged, indexed = {name: [] for name in SPLITS}, {name: [] for name in SPLITS}
    report = {"sources": [os.path.abspath(s) for s in sources], "repeat": repeat, "use": use,
              "held_out": [os.path.abspath(h) for h in held_out], "per_source": []}
    for path, cache, split, times, mapping, offset in zip(sources, caches, splits, repeat, use, offsets):
        elsewhere = held - {leakage_key(s) for name in ("val", "test") for s in split.get(name, [])}
        tests_elsewhere = tests - {leakage_key(s) for s in split.get("test", [])}
        row = {"cache": path}
        for name in SPLITS:
            members = split.get(mapping.get(name, name), [])
            drop = {"train": elsewhere, "val": tests_elsewhere}.get(name, set())  # a test molecule is never
            kept = [s for s in members if leakage_key(s) not in drop]                # trained or tuned on
            copies = int(times) if name == "train" else 1
            merged[name] += kept * copies
            indexed[name] += [offset + cache.index_of(s) for s in kept] * copies
            row[name] = len(kept)
            if name in ("train", "val"):
                row[f"{name}_dropped_held_out_elsewhere"] = len(members) - len(kept)
        report["per_source"].append(row)
    check_leakage(merged)  # on SMILES, across sources
    entries = sum(c.meta["num_entries"] for c in caches)
    meta = {**{k: first[k] for k in COMPATIBLE}, "name": "merged", "max_heavy_atoms": None,
            "shard_size": first["shard_size"], "num_entries": entries, "num_shards": shard,
            "source": "+".join(os.path.basename(os.path.normpath(s)) for s in sources), "version": CACHE_VERSION}
    write_json(os.path.join(out, "meta.json"), meta)
    write_json(os.path.join(out, "split.json"), {**indexed, "key": "position", "seed": None,
                                                 "merged_from": report["sources"]})
    report.update({"molecules": sum(len(c) for c in caches), "shards": shard,
                   "split": {k: len(v) for k, v in indexed.items()}})
    write_json(os.path.join(out, "report.json"), report)
    return report


def _link_tree(src: str, dst: str) -> None:
    os.makedirs(dst)
    for name in os.listdir(src):
        try:
            os.link(os.path.join(src, name), os.path.join(dst, name))
        except OSError:
            shutil.copy2(os.path.join(src, name), os.path.join(dst, name))
    report = src + ".report.json"
    if os.path.isfile(report):
        shutil.copy2(report, dst + ".report.json")
