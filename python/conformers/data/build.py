"""Build a GEOM-like reference ensemble from SMILES, written in GEOM's rdkit_folder layout.

Per molecule: ETKDGv3 conformers with hydrogens -> MMFF94 optimization (and GFN2-xTB through
``tblite`` with method "xtb", GEOM's level of theory) -> conformers whose bonds or stereo changed
are rejected -> energy window -> duplicates removed by symmetric heavy-atom RMSD -> Boltzmann
weights at 298.15 K. Parallel over molecules (one thread each), resumable, time-budgeted.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, rdDetermineBonds

from .._io import atomic_write, write_json
from .geom import BOLTZMANN_KCAL, HARTREE_KCAL, SkippedMolecule

BOHR = 0.52917721067  # Angstrom
HARTREE_EV = 27.211386245988
AU_DEBYE = 2.541746473


@dataclass(frozen=True)
class BuildSettings:
    method: str = "mmff"            # "mmff" or "xtb"
    num_seeds: int = 30             # ETKDG embeddings per molecule
    seed: int = 0
    rmsd_threshold: float = 0.125   # A: conformers closer than this (symmetric heavy-atom RMSD) are one
    energy_window: float = 6.0      # kcal/mol above the lowest conformer
    temperature: float = 298.15
    max_heavy_atoms: int = 100
    xtb_max_force: float = 1e-4     # Eh/Bohr: L-BFGS stop (1e-3 leaves drug-like conformers kcal/mol high)
    embed_timeout: float | None = None  # s per molecule for ETKDG (strained cages can take minutes); None: no bound

    def __post_init__(self):
        if self.method not in ("mmff", "xtb"):
            raise ValueError(f"method must be 'mmff' or 'xtb', got {self.method!r}")
        if self.num_seeds < 1:
            raise ValueError(f"num_seeds must be >= 1, got {self.num_seeds}")
        if self.embed_timeout is not None and not self.embed_timeout > 0:
            raise ValueError(f"embed_timeout must be > 0 seconds, got {self.embed_timeout}")


def read_smiles_file(path: str, unnamed: str | None = "LINE{line}") -> list[tuple[str | None, str]]:
    """(name, SMILES) pairs of a .smi file: SMILES first, an optional name second; a line without a
    name gets ``unnamed`` formatted with its line number (None: no name). Blank lines, # comments and
    a "SMILES" header are skipped."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no SMILES file at {path}")
    out = []
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split(None, 1)  # the name is the rest of the line, spaces included
            if not parts or parts[0].startswith("#") or parts[0].lower() == "smiles":
                continue
            name = parts[1].strip() if len(parts) > 1 else None if unnamed is None else unnamed.format(line=number)
            out.append((name, parts[0]))
    return out


def parse_input(smiles: str, max_heavy_atoms: int) -> Chem.Mol:
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        raise SkippedMolecule("invalid_smiles", repr(smiles))
    if mol.GetNumHeavyAtoms() == 0:
        raise SkippedMolecule("no_heavy_atoms", smiles)
    if mol.GetNumHeavyAtoms() > max_heavy_atoms:
        raise SkippedMolecule("too_large", f"{smiles}: {mol.GetNumHeavyAtoms()} heavy atoms > {max_heavy_atoms}")
    if len(Chem.GetMolFrags(mol)) > 1:
        raise SkippedMolecule("disconnected", smiles)
    return mol


def _bonds(mol) -> set:
    return {(min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
            for b in mol.GetBonds()}


def _connectivity_from_xyz(mol, conf_id) -> set:
    bare = Chem.RWMol()
    for atom in mol.GetAtoms():
        bare.AddAtom(Chem.Atom(atom.GetAtomicNum()))
    conf = Chem.Conformer(mol.GetConformer(conf_id))
    bare.AddConformer(conf, assignId=True)
    rdDetermineBonds.DetermineConnectivity(bare)
    return _bonds(bare)


def _stereo_from_xyz(mol, conf_id) -> str:
    copy = Chem.Mol(mol)
    Chem.AssignStereochemistryFrom3D(copy, confId=conf_id)
    return Chem.MolToSmiles(Chem.RemoveHs(copy))


def embed(mol: Chem.Mol, settings: BuildSettings) -> Chem.Mol:
    """ETKDGv3 seeds with hydrogens: the RDKit baseline's embedding (seed shift, random-coordinate fallback)."""
    from .embedding import etkdg

    try:
        return etkdg(mol, settings.num_seeds, seed=settings.seed, timeout=settings.embed_timeout)
    except RuntimeError as exc:
        raise SkippedMolecule("embedding_failed", str(exc)) from None


def optimize_mmff(mh: Chem.Mol) -> np.ndarray:
    """MMFF94-optimize every conformer in place; energies in Hartree (the layout's unit)."""
    if not AllChem.MMFFHasAllMoleculeParams(mh):
        raise SkippedMolecule("no_mmff_parameters", Chem.MolToSmiles(Chem.RemoveHs(mh)))
    results = AllChem.MMFFOptimizeMoleculeConfs(mh, maxIters=5000)
    return np.asarray([energy for _, energy in results]) / HARTREE_KCAL


def _xtb_properties(result) -> dict:
    """The 'xtb' record of a conformer as the nci-xtb set stores it: frontier orbitals, dipole."""
    energies, occupations = result.get("orbital-energies"), result.get("orbital-occupations")
    homo = float(energies[occupations > 1e-6].max()) * HARTREE_EV
    lumo = float(energies[occupations <= 1e-6].min()) * HARTREE_EV if (occupations <= 1e-6).any() else float("nan")
    return {"homo_eV": homo, "lumo_eV": lumo, "gap_eV": lumo - homo,
            "dipole_D": float(np.linalg.norm(result.get("dipole"))) * AU_DEBYE}


def optimize_xtb(mh: Chem.Mol, max_force: float):
    """GFN2-xTB (tblite) L-BFGS to max |gradient| <= max_force Eh/Bohr, in place.
    Returns energies in Hartree and each conformer's xtb properties."""
    try:
        from tblite.interface import Calculator
    except ImportError as exc:
        raise RuntimeError("method 'xtb' needs the tblite package: pip install tblite") from exc
    from scipy.optimize import minimize

    numbers = np.asarray([a.GetAtomicNum() for a in mh.GetAtoms()])
    charge = Chem.GetFormalCharge(mh)
    energies, properties = [], []
    for conf in mh.GetConformers():
        start = conf.GetPositions() / BOHR
        calc = Calculator("GFN2-xTB", numbers, start, charge=charge)
        calc.set("verbosity", 0)

        def energy_and_gradient(flat):
            calc.update(flat.reshape(-1, 3))
            result = calc.singlepoint()
            return result.get("energy"), result.get("gradient").reshape(-1)

        # scipy's gtol is the max projected gradient component: the max-force criterion itself.
        found = minimize(energy_and_gradient, start.reshape(-1), jac=True, method="L-BFGS-B",
                         options={"gtol": max_force, "ftol": 0.0, "maxiter": 2000})
        conf.SetPositions(found.x.reshape(-1, 3) * BOHR)
        calc.update(found.x.reshape(-1, 3))
        result = calc.singlepoint()
        energies.append(float(result.get("energy")))
        properties.append(_xtb_properties(result))
    return np.asarray(energies), properties


def deduplicate(mh: Chem.Mol, conf_ids: list[int], energies_kcal: np.ndarray, threshold: float):
    """Greedy in energy order: keep a conformer unless it lies within threshold (symmetric heavy-atom
    RMSD, no reflection) of a kept one. Returns kept ids and how many each absorbed (degeneracy)."""
    import torch

    import conformer_kernels as ck

    heavy = [a.GetIdx() for a in mh.GetAtoms() if a.GetAtomicNum() != 1]
    X = torch.tensor(np.stack([mh.GetConformer(c).GetPositions()[heavy] for c in conf_ids]))
    rmsd = ck.rmsd_matrix(X, X, ck.automorphisms(Chem.RemoveHs(mh))).numpy()
    kept, degeneracy = [], []
    for i in np.argsort(energies_kcal, kind="stable"):
        twin = next((k for k, j in enumerate(kept) if rmsd[i, j] < threshold), None)
        if twin is None:
            kept.append(i)
            degeneracy.append(1)
        else:
            degeneracy[twin] += 1
    return [conf_ids[i] for i in kept], degeneracy


def build_molecule(smiles: str, settings: BuildSettings) -> dict:
    """One molecule's GEOM-layout pickle content; SkippedMolecule(reason) if none can be built."""
    mol = parse_input(smiles, settings.max_heavy_atoms)
    mh = embed(mol, settings)
    ids = [c.GetId() for c in mh.GetConformers()]
    stereo_before = {i: _stereo_from_xyz(mh, i) for i in ids}
    if settings.method == "xtb":
        energies, xtb = optimize_xtb(mh, settings.xtb_max_force)
    else:
        energies, xtb = optimize_mmff(mh), None
    graph = _bonds(mh)
    valid = [k for k, i in enumerate(ids)
             if np.isfinite(energies[k]) and _connectivity_from_xyz(mh, i) == graph
             and _stereo_from_xyz(mh, i) == stereo_before[i]]
    if not valid:
        raise SkippedMolecule("no_valid_conformer", f"{smiles}: every conformer changed bonds or stereo")
    e_kcal = (energies[valid] - energies[valid].min()) * HARTREE_KCAL
    window = [k for k, e in zip(valid, e_kcal) if e <= settings.energy_window]
    kept, degeneracy = deduplicate(mh, [ids[k] for k in window], e_kcal[[valid.index(k) for k in window]],
                                   settings.rmsd_threshold)
    energy_of = dict(zip(ids, energies))
    xtb_of = dict(zip(ids, xtb)) if xtb else {}
    kept_e = np.asarray([energy_of[i] for i in kept])
    relative = (kept_e - kept_e.min()) * HARTREE_KCAL
    weights = np.exp(-relative / (BOLTZMANN_KCAL * settings.temperature))
    weights /= weights.sum()
    order = np.argsort(-weights, kind="stable")
    conformers = []
    for k in order:
        one = _single_conformer(mh, kept[k])
        conformers.append({"rd_mol": one, "boltzmannweight": float(weights[k]), "totalenergy": float(kept_e[k]),
                           "relativeenergy": float(relative[k]), "degeneracy": int(degeneracy[k])})
        if kept[k] in xtb_of:
            conformers[-1]["xtb"] = xtb_of[kept[k]]
    return {"conformers": conformers, "uniqueconfs": len(conformers), "totalconfs": len(ids), "smiles": smiles,
            "lowestenergy": float(kept_e.min()), "temperature": settings.temperature,
            "charge": Chem.GetFormalCharge(mol)}


def _single_conformer(mh, conf_id) -> Chem.Mol:
    one = Chem.Mol(mh)
    one.RemoveAllConformers()
    one.AddConformer(Chem.Conformer(mh.GetConformer(conf_id)), assignId=True)
    return one


def _build_task(task):
    name, smiles, settings, out, subset = task
    RDLogger.DisableLog("rdApp.*")
    start = time.process_time()
    try:
        data = build_molecule(smiles, settings)
    except SkippedMolecule as exc:
        return {"name": name, "smiles": smiles, "ok": False, "reason": exc.reason, "detail": exc.detail}
    except Exception as exc:  # one molecule's failure must not end the job
        return {"name": name, "smiles": smiles, "ok": False, "reason": "error", "detail": f"{type(exc).__name__}: {exc}"}
    rel = f"{subset}/{name}.pickle"
    atomic_write(os.path.join(out, rel), lambda handle: pickle.dump(data, handle), "wb")
    entry = {"charge": data["charge"], "lowestenergy": data["lowestenergy"], "method": settings.method,
             "name": name, "pickle_path": rel, "temperature": data["temperature"],
             "totalconfs": data["totalconfs"], "uniqueconfs": data["uniqueconfs"]}
    return {"name": name, "smiles": smiles, "ok": True, "entry": entry, "cpu_s": round(time.process_time() - start, 2)}


def build(molecules: list[tuple[str, str]], out: str, subset: str = "drugs", settings: BuildSettings = BuildSettings(),
          workers: int = 2, time_budget: float | None = None, progress: bool = True) -> dict:
    """Build (name, SMILES) molecules into ``out`` (summary_<subset>.json + <subset>/<name>.pickle).

    Resumable: a molecule with a result record in out/.build is not rebuilt. Stops starting new
    molecules once ``time_budget`` seconds have passed. Returns the report, also in build_report.json.
    """
    from tqdm import tqdm

    names = [n for n, _ in molecules]
    if len(set(names)) != len(names):
        raise ValueError("molecule names must be unique (they name the pickles)")
    molecules, duplicates = _without_duplicates(molecules)
    names = [n for n, _ in molecules]
    os.makedirs(os.path.join(out, subset), exist_ok=True)
    records_dir = os.path.join(out, ".build")
    os.makedirs(records_dir, exist_ok=True)
    todo = [(n, s, settings, out, subset) for n, s in molecules
            if not os.path.isfile(os.path.join(records_dir, f"{n}.json"))]
    start, pending, queue = time.perf_counter(), set(), list(reversed(todo))
    bar = tqdm(total=len(todo), unit="mol", desc=f"build {settings.method}", disable=not progress)
    env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    os.environ.update(OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")  # inherited by the workers
    try:
        # spawn, not fork: a forked child inherits the parent's already-started OpenMP runtime, which
        # ignores OMP_NUM_THREADS=1; xTB with two contending threads per process ran ~100x slower.
        with ProcessPoolExecutor(max(1, workers), mp_context=multiprocessing.get_context("spawn")) as pool:
            while queue or pending:
                over = time_budget is not None and time.perf_counter() - start > time_budget
                while queue and not over and len(pending) < 2 * max(1, workers):
                    pending.add(pool.submit(_build_task, queue.pop()))
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    record = future.result()
                    write_json(os.path.join(records_dir, f"{record['name']}.json"), record, sort_keys=True)
                    bar.update(1)
    finally:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        bar.close()
    return _write_summary(out, subset, names, settings, len(queue), time.perf_counter() - start, duplicates)


def _without_duplicates(molecules: list[tuple[str, str]]) -> tuple[list, list[dict]]:
    """The molecules without those whose canonical SMILES an earlier one already has (GEOM's
    summary is keyed by SMILES: they would collapse into one entry), and those dropped."""
    kept, first, duplicates = [], {}, []
    for name, smiles in molecules:
        mol = Chem.MolFromSmiles(smiles) if smiles else None
        key = Chem.MolToSmiles(mol) if mol is not None else None  # unparsable: built, and fails by name
        if key is not None and key in first:
            duplicates.append({"name": name, "smiles": smiles, "same_as": first[key]})
            continue
        if key is not None:
            first[key] = name
        kept.append((name, smiles))
    return kept, duplicates


def _write_summary(out, subset, names, settings, not_started, elapsed, duplicates=()) -> dict:
    summary, failures = {}, []
    for name in names:
        path = os.path.join(out, ".build", f"{name}.json")
        if not os.path.isfile(path):
            continue
        with open(path) as handle:
            record = json.load(handle)
        if record["ok"]:
            summary[record["smiles"]] = record["entry"]
        else:
            failures.append({k: record[k] for k in ("name", "smiles", "reason", "detail")})
    write_json(os.path.join(out, f"summary_{subset}.json"), summary, sort_keys=True)
    report = {"molecules": len(names) + len(duplicates), "built": len(summary), "failed": len(failures),
              "duplicates": list(duplicates),
              "not_started_time_budget": not_started, "seconds_this_run": round(elapsed, 1),
              "settings": asdict(settings), "failures": failures}
    write_json(os.path.join(out, "build_report.json"), report, sort_keys=True)
    return report


