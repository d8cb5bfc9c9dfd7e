"""QM9 (Ramakrishnan et al. 2014: 130,831 molecules, one B3LYP/6-31G(2df,p) geometry each) as a
data source, read from the CSV files of the PyPI package ``qm9pack`` (never its module, which needs
pkg_resources and pandas), and written into the same cache format as a GEOM release.

Each DFT geometry is mapped onto its SMILES graph by connectivity (the XYZ has no bond orders):
bonds are perceived from the coordinates (RDKit's covalent-radius rule), and the SMILES graph with
explicit hydrogens must match them exactly, atom for atom. Stereo is read from the geometry. Rows
that do not map are skipped with a counted reason, never silently.
"""
from __future__ import annotations

import csv
import importlib.util
import os
import time
from collections import Counter

import numpy as np
from rdkit import Chem, RDLogger

from .._io import write_json
from .cache import (CACHE_VERSION, SHARD_SIZE, _check_settings, _merge_reports, molecule_arrays, run_shard_tasks,
                    write_shard)
from .geom import SkippedMolecule
from . import features
from .embedding import rdkit_mmff_starts

PARTS = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
# Numeric QM9 properties kept with each molecule (units as the column names say; au = Hartree).
PROPERTIES = ("RotA_GHz", "RotB_GHz", "RotC_GHz", "Dipole_debye", "Polarizability_bohr3", "HOMO_au", "LUMO_au",
              "HOMO_LUMO_gap_au", "R2_bohr2", "ZPVE_au", "InternalEnergy_0K_au", "InternalEnergy_298K_au",
              "Enthalphy_298K_au", "GibbsFreeEnergy_298K_au", "Heatcapacity_Cv_cal_mol_K")
ENERGY = "InternalEnergy_0K_au"
# Bonds are perceived at d < factor x (sum of covalent radii). RDKit's 1.3 also bonds the
# bridgeheads of strained bicycles (1.8-1.9 A apart in bicyclo[1.1.1]pentane), so tighter factors
# are tried when 1.3 does not reproduce the SMILES graph; a bond longer than 1.1x never counts.
COVALENT_FACTORS = (1.3, 1.2, 1.1)
START_TIMEOUT = 1.0  # seconds per ETKDG attempt: a start that takes longer is left out (no_rdkit_start)


def qm9pack_folder() -> str:
    """The installed qm9pack's data folder (the CSV files); FileNotFoundError naming the extra."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("QM9 needs the qm9pack package's CSV files: pip install -e \".[qm9]\" "
                                "(or pass the folder holding qm9_part1.csv .. qm9_part3.csv)")
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def read_rows(folder: str, limit: int | None = None) -> list[dict]:
    """The CSV rows of ``folder``'s qm9_part*.csv files (those present; at least one), in file order."""
    paths = [os.path.join(folder, p) for p in PARTS if os.path.isfile(os.path.join(folder, p))]
    if not paths:
        raise FileNotFoundError(f"no QM9 CSV files ({', '.join(PARTS)}) in {folder}")
    csv.field_size_limit(1 << 30)
    rows = []
    for path in paths:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"Index", "SMILES", "Elements", "XYZ_Ang"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{path} is not a qm9pack CSV file: no column(s) {sorted(missing)}")
            for row in reader:
                rows.append(row)
                if limit is not None and len(rows) >= limit:
                    return rows
    return rows


def _numbers(text: str) -> np.ndarray:
    """'[[1.0,0.],[...]]' -> flat float64 array (the CSV writes Python lists, with '0.' floats)."""
    body = text.replace("[", " ").replace("]", " ").replace(",", " ").split()
    return np.asarray([float(v) for v in body], dtype=np.float64)


def _elements(text: str) -> list[str]:
    return [e.strip().strip("'\"") for e in text.strip("[] ").split(",") if e.strip()]


def molecule_from_row(row: dict) -> tuple[Chem.Mol, dict]:
    """(molecule with explicit hydrogens and the DFT conformer, properties) of one CSV row.

    Raises SkippedMolecule with reason unparsable_row, smiles_unparsable, atom_mismatch or
    connectivity_mismatch (the SMILES graph is not the graph the geometry's bond lengths give).
    """
    try:
        index = int(row["Index"])
        elements = _elements(row["Elements"])
        xyz = _numbers(row["XYZ_Ang"]).reshape(-1, 3)
        if len(elements) != len(xyz) or not len(xyz) or not np.isfinite(xyz).all():
            raise ValueError(f"{len(elements)} elements, {len(xyz)} coordinates")
    except (KeyError, ValueError, TypeError) as exc:
        raise SkippedMolecule("unparsable_row", f"row {row.get('Index')!r}: {exc}") from None
    smiles = row["SMILES"]
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise SkippedMolecule("smiles_unparsable", f"qm9_{index} {smiles}")
    mh = Chem.AddHs(mol)
    if sorted(a.GetSymbol() for a in mh.GetAtoms()) != sorted(elements):
        raise SkippedMolecule("atom_mismatch", f"qm9_{index} {smiles}: SMILES atoms differ from the geometry's")
    skeleton, match = _skeleton(mh), ()
    for factor in COVALENT_FACTORS:
        geometry = _connectivity_mol(elements, xyz, factor)
        if geometry.GetNumBonds() == mh.GetNumBonds():
            match = geometry.GetSubstructMatch(skeleton)
            if match:
                break
    if not match:
        raise SkippedMolecule("connectivity_mismatch",
                              f"qm9_{index} {smiles}: the geometry's bonds are not the SMILES graph")
    conf = Chem.Conformer(mh.GetNumAtoms())
    conf.SetPositions(xyz[list(match)])
    mh.RemoveAllConformers()
    mh.AddConformer(conf, assignId=True)
    Chem.AssignStereochemistryFrom3D(mh)
    properties = {"qm9_index": index, "qm9_smiles": smiles, "inchi": row.get("InChi", "")}
    for key in PROPERTIES:
        try:
            properties[key] = float(row[key])
        except (KeyError, ValueError, TypeError):
            properties[key] = None
    mh.SetProp("_Name", f"qm9_{index}")
    return mh, properties


def _connectivity_mol(elements, xyz, factor: float) -> Chem.Mol:
    """Single bonds wherever two atoms are closer than ``factor`` x the sum of covalent radii."""
    table = Chem.GetPeriodicTable()
    radii = np.asarray([table.GetRcovalent(e) for e in elements])
    close = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1) < factor * (radii[:, None] + radii[None])
    geometry = Chem.RWMol()
    for e in elements:
        atom = Chem.Atom(e)
        atom.SetNoImplicit(True)
        geometry.AddAtom(atom)
    for i, j in zip(*np.nonzero(np.triu(close, 1))):
        geometry.AddBond(int(i), int(j), Chem.BondType.SINGLE)
    return geometry.GetMol()


def _skeleton(mh: Chem.Mol) -> Chem.Mol:
    """The molecule as a bond-order-free query: every bond single, nothing aromatic or charged."""
    q = Chem.RWMol(mh)
    for atom in q.GetAtoms():
        atom.SetIsAromatic(False)
        atom.SetFormalCharge(0)
        atom.SetNoImplicit(True)
    for bond in q.GetBonds():
        bond.SetBondType(Chem.BondType.SINGLE)
        bond.SetIsAromatic(False)
    return q.GetMol()


def _process_shard(task) -> dict:
    """Worker: map, featurize and store one shard of QM9 rows; returns its report."""
    rows, shard_path, hydrogens, max_permutations, starts, starts_for = task
    RDLogger.DisableLog("rdApp.*")
    molecules, info = [], []
    report = {"kept": Counter(), "skipped": Counter(), "quirks": Counter(), "failures": []}
    for row in rows:
        try:
            mh, properties = molecule_from_row(row)
            graph = features.featurize(mh, hydrogens=hydrogens, max_permutations=max_permutations)
            energy = properties[ENERGY]
            arrays = molecule_arrays(mh, graph, [1.0], [np.nan if energy is None else energy], hydrogens)
            if starts:  # 0 rows where the molecule is not among those given starts
                wanted = starts_for is None or properties["qm9_index"] in starts_for
                arrays["starts"] = (_starts(mh, starts, properties["qm9_index"], report) if wanted
                                    else np.zeros((0, 3), dtype=np.float32))
        except SkippedMolecule as exc:
            report["skipped"][exc.reason] += 1
            report["failures"].append({"smiles": row.get("SMILES"), "reason": exc.reason, "detail": exc.detail})
            continue
        except Exception as exc:  # RDKit refusing one molecule must not stop the other 130k
            report["skipped"]["featurization_error"] += 1
            report["failures"].append({"smiles": row.get("SMILES"), "reason": "featurization_error",
                                       "detail": f"qm9_{row.get('Index')}: {type(exc).__name__}: {exc}"})
            continue
        if graph.symmetry_capped:
            report["quirks"]["symmetry_capped"] += 1
        report["kept"]["molecules"] += 1
        report["kept"]["conformers"] += 1
        molecules.append(arrays)
        info.append({"smiles": Chem.MolToSmiles(features.remove_hs(mh)), "name": mh.GetProp("_Name"),
                     "symmetry_capped": graph.symmetry_capped, "properties": properties})
    write_shard(shard_path, molecules, info)
    write_json(shard_path + ".report.json", report, indent=None)
    return report


def _starts(mh: Chem.Mol, count: int, seed: int, report: dict) -> np.ndarray:
    """(count * N, 3) float32 RDKit+MMFF heavy-atom starts (seed = the QM9 index); none (0 rows)
    where ETKDG cannot embed the molecule, counted as a quirk."""
    try:
        return rdkit_mmff_starts(mh, count, seed, timeout=START_TIMEOUT).astype(np.float32).reshape(-1, 3)
    except RuntimeError:
        report["quirks"]["no_rdkit_start"] += 1
        return np.zeros((0, 3), dtype=np.float32)


def prepare_qm9(folder: str | None, out: str, *, workers: int = 2, hydrogens: bool = False, starts: int = 10,
                max_permutations: int = features.DEFAULT_MAX_PERMUTATIONS, shard_size: int = SHARD_SIZE,
                limit: int | None = None, split: str | None = None, starts_sample: dict | None = None,
                progress: bool = True) -> dict:
    """Convert QM9's CSV files (``folder``, default the installed qm9pack's) into a cache at ``out``.

    Resumable (finished shards are kept). Molecules are named qm9_<Index> (the CSV's Index column)
    and carry their QM9 properties in the shard's molecules.json; ``starts`` RDKit+MMFF conformers
    per molecule are stored beside the DFT one (ConfOpt's starting pool; 0 for none), for every
    molecule or, with ``starts_sample`` ({split name: count}, needs ``split``), for a seeded random
    sample of those splits' molecules (RDKit+MMFF costs ~20 ms a molecule: all of QM9 takes ~50 min
    on 2 cores); out/split.json then also lists them as "<name>_with_starts". With ``split`` (a file of QM9
    indices per split, as data/qm9/split.json), ``out/split.json`` lists the kept molecules of each
    split by SMILES, for the training engine. Returns the report also written to out/report.json.
    """
    if hydrogens and starts:
        raise ValueError("RDKit+MMFF starts are stored for heavy-atom caches only: pass starts=0 with hydrogens")
    folder = folder or qm9pack_folder()
    starts_for = _sample_indices(split, starts_sample) if starts and starts_sample else None
    previous_sample = _previous_starts_sample(out) if starts else None
    tried_before = _sample_indices(split, previous_sample) if starts_for is not None and previous_sample else None
    rows = sorted(read_rows(folder, limit), key=lambda r: int(r["Index"]) if r.get("Index", "").isdigit() else -1)
    settings = {"version": CACHE_VERSION, "name": "qm9", "hydrogens": hydrogens, "max_heavy_atoms": None,
                "max_permutations": max_permutations, "shard_size": shard_size, "num_entries": len(rows),
                "atom_features": features.ATOM_FEATURES, "bond_features": features.BOND_FEATURES,
                "starts": starts, "starts_sample": starts_sample, "source": "qm9pack CSV (QM9, B3LYP/6-31G(2df,p))"}
    os.makedirs(os.path.join(out, "shards"), exist_ok=True)
    # a changed starts sample keeps the finished shards (a grown one adds the new molecules' starts):
    # split.json's *_with_starts lists count the starts actually stored. The meta keeps the previous
    # sample until the run ends, so a killed run resumes the growth.
    _check_settings(out, {**settings, "starts_sample": previous_sample or starts_sample},
                    ignore=("source", "starts_sample"))
    tasks, growing = [], []
    for k in range(0, len(rows), shard_size):
        path = os.path.join(out, "shards", f"{k // shard_size:05d}")
        shard_rows = rows[k:k + shard_size]
        if not (os.path.isfile(path + ".report.json") and os.path.isdir(path)):
            tasks.append((shard_rows, path, hydrogens, max_permutations, starts, starts_for))
        elif starts_for is not None and tried_before is not None:
            new = [r for r in shard_rows if _row_index(r) in starts_for and _row_index(r) not in tried_before]
            if new:  # a finished shard of a grown sample: add the new molecules' starts, keep the rest
                growing.append((new, path, starts))
    start = time.perf_counter()
    todo = sum(len(t[0]) for t in tasks) + sum(len(t[0]) for t in growing)
    run_shard_tasks(_process_shard, tasks, [len(t[0]) for t in tasks], workers, progress, "prepare qm9")
    run_shard_tasks(_add_starts, growing, [len(t[0]) for t in growing], workers, progress, "add starts")
    elapsed = time.perf_counter() - start
    write_json(os.path.join(out, "meta.json"), settings)
    report = {"source": folder, "rows_read": len(rows), **_merge_reports(out, len(rows), shard_size)}
    report["throughput"] = {"molecules_processed_this_run": todo, "seconds": round(elapsed, 2),
                            "molecules_per_second": round(todo / elapsed, 1) if todo else None, "workers": workers}
    if split is not None:
        report["split"] = write_cache_split(out, split, with_starts=bool(starts))
    write_json(os.path.join(out, "report.json"), report)
    return report


def _row_index(row: dict) -> int | None:
    return int(row["Index"]) if str(row.get("Index", "")).isdigit() else None


def _previous_starts_sample(out: str) -> dict | None:
    """The starts sample of an existing cache at ``out`` (None: no cache, or starts for every molecule)."""
    import json

    path = os.path.join(out, "meta.json")
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        old = json.load(handle)
    return old.get("starts_sample") if old.get("starts") else None


def _add_starts(task) -> dict:
    """Worker: store RDKit+MMFF starts for ``rows`` (molecules of a finished shard that have none),
    keeping every other array of the shard; rewrites the shard atomically, as write_shard does."""
    import json
    import shutil

    rows, shard_path, count = task
    RDLogger.DisableLog("rdApp.*")
    with open(os.path.join(shard_path, "molecules.json")) as handle:
        info = json.load(handle)
    with open(shard_path + ".report.json") as handle:
        report = json.load(handle)
    if not info:  # every row of the shard was skipped when it was made
        return report
    ptr = np.load(os.path.join(shard_path, "start_ptr.npy"))
    stored = np.load(os.path.join(shard_path, "starts.npy"))
    parts = [stored[ptr[i]:ptr[i + 1]] for i in range(len(info))]
    position = {m["properties"]["qm9_index"]: i for i, m in enumerate(info)}
    counted = {"quirks": Counter(report.get("quirks", {}))}
    for row in rows:
        i = position.get(_row_index(row))
        if i is None or len(parts[i]):  # skipped when the shard was made, or already started
            continue
        mh, _ = molecule_from_row(row)
        parts[i] = _starts(mh, count, _row_index(row), counted)
    report["quirks"] = dict(counted["quirks"])
    tmp = shard_path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(shard_path, tmp)
    np.save(os.path.join(tmp, "starts.npy"), np.concatenate(parts).astype(np.float32))
    np.save(os.path.join(tmp, "start_ptr.npy"),
            np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64))
    shutil.rmtree(shard_path)
    os.replace(tmp, shard_path)
    write_json(shard_path + ".report.json", report, indent=None)
    return report


def _sample_indices(split_path: str | None, sample: dict) -> set:
    """QM9 indices of a seeded (0) random sample of each named split's molecules."""
    import json

    if split_path is None:
        raise ValueError("starts_sample needs the split file (--split)")
    with open(split_path) as handle:
        source = json.load(handle)
    chosen = set()
    for name, count in sample.items():
        if name not in source:
            raise ValueError(f"starts_sample names split {name!r}, which {split_path} does not have")
        members = sorted(int(i) for i in source[name])
        rng = np.random.default_rng(0)
        chosen.update(int(i) for i in rng.permutation(members)[:int(count)])
    return chosen


def write_cache_split(out: str, split_path: str, with_starts: bool = False) -> dict:
    """out/split.json: the QM9-index split at ``split_path`` as SMILES of the cache's molecules,
    leakage-checked. Indices the cache skipped are counted per split; so are QM9 entries whose
    geometry-derived SMILES another kept entry already has (only the first is used)."""
    import json

    from .cache import MoleculeCache
    from .split import check_leakage, save_split

    with open(split_path) as handle:
        source = json.load(handle)
    cache = MoleculeCache(out)
    smiles_of = {name: s for name, s in zip(cache.names, cache.smiles)}
    starts_of = ({s: n for n, s in zip(cache.num_starts(), cache.smiles)} if with_starts else {})
    out_split, counts, seen = {}, {}, set()
    for name in ("train", "val", "test"):
        members, missing, duplicate = [], 0, 0
        for index in source.get(name, []):
            s = smiles_of.get(f"qm9_{int(index)}")
            if s is None:
                missing += 1
            elif s in seen:
                duplicate += 1
            else:
                seen.add(s)
                members.append(s)
        out_split[name] = members
        if with_starts:
            out_split[f"{name}_with_starts"] = [s for s in members if starts_of.get(s, 0)]
        counts[name] = {"indices": len(source.get(name, [])), "kept": len(members), "not_in_cache": missing,
                        "duplicate_smiles": duplicate}
        if with_starts:
            counts[name]["with_starts"] = len(out_split[f"{name}_with_starts"])
    check_leakage(out_split)
    out_split.update({"source": os.path.abspath(split_path), "seed": source.get("seed"), "key": "smiles"})
    save_split(out_split, os.path.join(out, "split.json"))
    return counts
