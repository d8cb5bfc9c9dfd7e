"""The on-disk cache a GEOM-layout release is converted into once, then streamed from.

Layout: CACHE/meta.json, CACHE/report.json, CACHE/shards/NNNNN/<field>.npy. A shard holds a fixed
run of the release's molecules (sorted by SMILES), every field concatenated over its molecules with
CSR offsets per field group, as plain .npy files opened memory-mapped: numpy arrays and RDKit binary
molecules only, readable without this package's classes or any particular torch version.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from rdkit import Chem, RDLogger

from . import features
from .._io import write_json
from .geom import SkippedMolecule, load_molecule, read_summary

CACHE_VERSION = 1
SHARD_SIZE = 256
# Field -> the offsets array that segments it (one row range per molecule).
FIELD_GROUPS = {
    "atomic_numbers": "atom_ptr", "atom_features": "atom_ptr", "conjugated_system": "atom_ptr",
    "bond_index": "bond_ptr", "bond_features": "bond_ptr", "rotatable": "bond_ptr",
    "extended_index": "extended_ptr", "extended_type": "extended_ptr",
    "path_length": "path_ptr", "permutations": "perm_ptr",
    "positions": "position_ptr", "weights": "conformer_ptr", "energies": "conformer_ptr",
    "mol_binary": "mol_binary_ptr",
}
# Fields a cache may hold or not (a shard writes them when every molecule has them):
# starts (S*N, 3) float32, S RDKit+MMFF starting conformers per molecule (ConfOpt's pool), heavy atoms.
OPTIONAL_FIELDS = {"starts": "start_ptr"}


def molecule_arrays(mol: Chem.Mol, graph: features.MolGraph, weights, energies, hydrogens: bool) -> dict:
    """The flat per-molecule arrays a shard stores (atom-index arrays stay molecule-local)."""
    keep = [a.GetIdx() for a in mol.GetAtoms() if hydrogens or a.GetAtomicNum() != 1]
    positions = np.stack([c.GetPositions()[keep] for c in mol.GetConformers()]).astype(np.float32)
    stored = Chem.Mol(mol) if hydrogens else features.remove_hs(mol)
    stored.RemoveAllConformers()
    return {
        "atomic_numbers": graph.atomic_numbers, "atom_features": graph.atom_features,
        "conjugated_system": graph.conjugated_system,
        "bond_index": graph.bond_index.T, "bond_features": graph.bond_features, "rotatable": graph.rotatable,
        "extended_index": graph.extended_index.T, "extended_type": graph.extended_type,
        "path_length": graph.path_length.reshape(-1), "permutations": graph.permutations.reshape(-1),
        "positions": positions.reshape(-1, 3), "weights": np.asarray(weights, dtype=np.float64),
        "energies": np.asarray(energies, dtype=np.float64),
        "mol_binary": np.frombuffer(stored.ToBinary(), dtype=np.uint8),
    }


def write_shard(path: str, molecules: list[dict], info: list[dict]) -> None:
    """Write one shard atomically: to PATH.tmp, then a rename (a killed run leaves no half shard)."""
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    ptrs = {}
    optional = {f: g for f, g in OPTIONAL_FIELDS.items() if molecules and all(f in m for m in molecules)}
    for field, group in {**FIELD_GROUPS, **optional}.items():
        parts = [m[field] for m in molecules]
        if group not in ptrs:
            ptrs[group] = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        data = np.concatenate(parts) if parts else np.zeros((0,), dtype=np.float32)
        np.save(os.path.join(tmp, f"{field}.npy"), data)
    for group, ptr in ptrs.items():
        np.save(os.path.join(tmp, f"{group}.npy"), ptr)
    with open(os.path.join(tmp, "molecules.json"), "w") as handle:
        json.dump(info, handle)
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


def _process_shard(task) -> dict:
    """Worker: read, featurize and store one shard of the release; returns its report."""
    root, entries, shard_path, hydrogens, max_heavy_atoms, max_permutations = task
    RDLogger.DisableLog("rdApp.*")
    molecules, info, report = [], [], {"kept": Counter(), "skipped": Counter(), "quirks": Counter(), "failures": []}
    for smiles, entry in entries:
        try:
            geom = load_molecule(root, smiles, entry, max_heavy_atoms=max_heavy_atoms)
            graph = features.featurize(geom.mol, hydrogens=hydrogens, max_permutations=max_permutations)
            arrays = molecule_arrays(geom.mol, graph, geom.weights, geom.energies, hydrogens)
        except SkippedMolecule as exc:
            report["skipped"][exc.reason] += 1
            report["failures"].append({"smiles": smiles, "reason": exc.reason, "detail": exc.detail})
            continue
        except Exception as exc:  # RDKit refusing a molecule must not stop the other 300k
            report["skipped"]["featurization_error"] += 1
            report["failures"].append({"smiles": smiles, "reason": "featurization_error",
                                       "detail": f"{type(exc).__name__}: {exc}"})
            continue
        report["quirks"].update(geom.quirks)
        if graph.symmetry_capped:
            report["quirks"]["symmetry_capped"] += 1
        report["kept"]["molecules"] += 1
        report["kept"]["conformers"] += geom.num_conformers
        molecules.append(arrays)
        info.append({"smiles": smiles, "name": geom.name, "symmetry_capped": graph.symmetry_capped})
    write_shard(shard_path, molecules, info)
    with open(shard_path + ".report.json", "w") as handle:
        json.dump(report, handle)
    return report


def prepare(geom_root: str, name: str, out: str, *, workers: int = 2, hydrogens: bool = False,
            max_heavy_atoms: int | None = None, max_permutations: int = features.DEFAULT_MAX_PERMUTATIONS,
            shard_size: int = SHARD_SIZE, limit: int | None = None, progress: bool = True) -> dict:
    """Convert a GEOM rdkit_folder release into a cache at ``out``; resumable: finished shards are kept.

    Returns the report also written to ``out/report.json``: molecules and conformers kept, those
    skipped by reason (each failure named in ``failures``), quirks handled, and throughput.
    """
    summary = read_summary(geom_root, name)
    entries = sorted(summary.items())[:limit]
    settings = {"version": CACHE_VERSION, "name": name, "hydrogens": hydrogens, "max_heavy_atoms": max_heavy_atoms,
                "max_permutations": max_permutations, "shard_size": shard_size, "num_entries": len(entries),
                "atom_features": features.ATOM_FEATURES, "bond_features": features.BOND_FEATURES,
                "source": os.path.basename(os.path.normpath(geom_root))}
    os.makedirs(os.path.join(out, "shards"), exist_ok=True)
    _check_settings(out, settings)
    tasks, done = [], []
    for k in range(0, len(entries), shard_size):
        path = os.path.join(out, "shards", f"{k // shard_size:05d}")
        (done if os.path.isfile(path + ".report.json") and os.path.isdir(path) else tasks).append(
            (geom_root, entries[k:k + shard_size], path, hydrogens, max_heavy_atoms, max_permutations))
    start = time.perf_counter()
    todo_molecules = sum(len(t[1]) for t in tasks)
    run_shard_tasks(_process_shard, tasks, [len(t[1]) for t in tasks], workers, progress)
    elapsed = time.perf_counter() - start
    report = _merge_reports(out, len(entries), shard_size)
    report["throughput"] = {"molecules_processed_this_run": todo_molecules, "seconds": round(elapsed, 2),
                            "molecules_per_second": round(todo_molecules / elapsed, 1) if todo_molecules else None,
                            "workers": workers, "resumed_shards": len(done)}
    write_json(os.path.join(out, "report.json"), report)
    return report


def run_shard_tasks(worker, tasks, sizes, workers, progress, desc="prepare"):
    """``worker(task)`` for every task, in ``workers`` single-threaded processes (or inline for 1),
    with a progress bar counting ``sizes`` (molecules per task)."""
    from concurrent.futures import as_completed

    from tqdm import tqdm

    bar = tqdm(total=sum(sizes), unit="mol", desc=desc, disable=not progress)
    if workers <= 1:
        for task, size in zip(tasks, sizes):
            worker(task)
            bar.update(size)
    elif tasks:
        with ProcessPoolExecutor(workers, initializer=_single_thread) as pool:
            futures = {pool.submit(worker, t): size for t, size in zip(tasks, sizes)}
            for future in as_completed(futures):
                future.result()
                bar.update(futures[future])
    bar.close()


def _single_thread():
    import torch

    torch.set_num_threads(1)  # parallelism is over shards; threads inside a worker only contend


def _check_settings(out, settings, ignore=("source",)):
    path = os.path.join(out, "meta.json")
    if os.path.isfile(path):
        with open(path) as handle:
            old = json.load(handle)
        differing = [k for k in settings if k not in ignore and old.get(k) != settings[k]]
        if differing:
            raise ValueError(f"{out} holds a cache made with other settings ({', '.join(differing)}); "
                             "use a new --out directory or delete it")
    write_json(path, settings)


def _merge_reports(out, num_entries, shard_size):
    total = {"kept": Counter(), "skipped": Counter(), "quirks": Counter(), "failures": []}
    for k in range(0, num_entries, shard_size):
        with open(os.path.join(out, "shards", f"{k // shard_size:05d}.report.json")) as handle:
            part = json.load(handle)
        for key in ("kept", "skipped", "quirks"):
            total[key].update(part[key])
        total["failures"] += part["failures"]
    return {"entries": num_entries, "molecules_kept": total["kept"]["molecules"],
            "conformers_kept": total["kept"]["conformers"], "molecules_skipped": sum(total["skipped"].values()),
            "skipped_by_reason": dict(total["skipped"]), "quirks_handled": dict(total["quirks"]),
            "failures": total["failures"]}



class MoleculeCache:
    """Read access to a prepared cache; shards are memory-mapped, molecules addressed 0..len-1."""

    def __init__(self, path: str):
        meta_path = os.path.join(path, "meta.json")
        if not os.path.isfile(meta_path):
            raise FileNotFoundError(f"{path} is not a prepared cache (no meta.json); run `conformers data prepare`")
        with open(meta_path) as handle:
            self.meta = json.load(handle)
        if self.meta.get("version") != CACHE_VERSION:
            raise ValueError(f"{path}: cache version {self.meta.get('version')}, this package reads {CACHE_VERSION}")
        self.path, self.hydrogens = path, bool(self.meta["hydrogens"])
        shard_dir = os.path.join(path, "shards")
        names = sorted(d for d in os.listdir(shard_dir) if d.isdigit())
        expected = self.meta.get("num_shards", -(-self.meta["num_entries"] // self.meta["shard_size"]))
        if len(names) != expected:
            raise ValueError(f"{path} is incomplete: {len(names)} of {expected} shards; resume `conformers data prepare`")
        self._shards = [os.path.join(shard_dir, n) for n in names]
        self._arrays = [None] * len(self._shards)
        self.info, locate = [], []
        for s, shard in enumerate(self._shards):
            with open(os.path.join(shard, "molecules.json")) as handle:
                rows = json.load(handle)
            self.info += rows
            locate += [(s, i) for i in range(len(rows))]
        self._locate = locate
        self.smiles = [row["smiles"] for row in self.info]
        self.names = [row["name"] for row in self.info]
        self._index = {s: i for i, s in enumerate(self.smiles)}

    def __len__(self) -> int:
        return len(self._locate)

    def index_of(self, smiles: str) -> int:
        return self._index[smiles]

    def _shard(self, s: int) -> dict:
        if self._arrays[s] is None:  # opened lazily, so DataLoader workers map their own pages
            arrays = {}
            for f in os.listdir(self._shards[s]):
                if f.endswith(".npy"):
                    data = np.load(os.path.join(self._shards[s], f), mmap_mode="r")
                    # offsets are small: keep them in memory; data stays mapped, viewed as plain
                    # ndarrays (np.memmap's per-slice Python overhead dominated item access)
                    arrays[f[:-4]] = np.array(data) if f.endswith("_ptr.npy") else data.view(np.ndarray)
            self._arrays[s] = arrays
        return self._arrays[s]

    def __getstate__(self):  # pickled into DataLoader workers without the open maps
        state = dict(self.__dict__)
        state["_arrays"] = [None] * len(self._shards)
        return state

    def num_conformers(self) -> np.ndarray:
        out = []
        for s in range(len(self._shards)):
            out.append(np.diff(self._shard(s)["conformer_ptr"]))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def num_starts(self) -> np.ndarray:
        """(len,) stored RDKit+MMFF starts per molecule (0 everywhere for a cache without them)."""
        out = []
        for s in range(len(self._shards)):
            a = self._shard(s)
            atoms = np.diff(a["atom_ptr"])
            out.append(np.diff(a["start_ptr"]) // np.maximum(atoms, 1) if "start_ptr" in a else np.zeros_like(atoms))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def molecule(self, i: int) -> dict:
        """Molecule i as a dict of numpy arrays (views into the mapped shard where possible):
        the MolGraph fields plus positions (C, N, 3) float32, weights (C,), energies (C,)."""
        s, j = self._locate[i]
        a = self._shard(s)

        def part(field):
            ptr = a[FIELD_GROUPS[field]]
            return a[field][ptr[j]:ptr[j + 1]]

        n = int(a["atom_ptr"][j + 1] - a["atom_ptr"][j])
        out = {
            "atomic_numbers": part("atomic_numbers"), "atom_features": part("atom_features"),
            "conjugated_system": part("conjugated_system"),
            "bond_index": part("bond_index").T, "bond_features": part("bond_features"), "rotatable": part("rotatable"),
            "extended_index": part("extended_index").T, "extended_type": part("extended_type"),
            "path_length": part("path_length").reshape(n, n), "permutations": part("permutations").reshape(-1, n),
            "positions": part("positions").reshape(-1, n, 3), "weights": part("weights"), "energies": part("energies"),
        }
        if "starts" in a:  # (S, N, 3) RDKit+MMFF starts, where the cache was prepared with them
            ptr = a["start_ptr"]
            out["starts"] = a["starts"][ptr[j]:ptr[j + 1]].reshape(-1, n, 3)
        return out

    def rdkit_mol(self, i: int, with_conformers: bool = True) -> Chem.Mol:
        """The molecule as RDKit Mol (heavy atoms, or all atoms for a hydrogens cache), with its
        conformers in decreasing Boltzmann weight."""
        s, j = self._locate[i]
        a = self._shard(s)
        ptr = a["mol_binary_ptr"]
        mol = Chem.Mol(a["mol_binary"][ptr[j]:ptr[j + 1]].tobytes())
        if with_conformers:
            for xyz in self.molecule(i)["positions"]:
                conf = Chem.Conformer(mol.GetNumAtoms())
                conf.SetPositions(np.asarray(xyz, dtype=np.float64))
                mol.AddConformer(conf, assignId=True)
        mol.SetProp("_Name", self.names[i])
        return mol
