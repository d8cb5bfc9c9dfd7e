"""The evaluation harness: generated vs reference ensembles -> symmetric heavy-atom RMSD matrices
(conformer_kernels) -> COV/MAT/MIS per molecule and over molecules, curves, stereo fidelity.

Semantics are the field's (hydrogens removed, symmetry-aware alignment without mirror images as
GetBestRMS computes it, COV counts RMSD <= delta), but nothing is dropped silently: every molecule
that could not be evaluated is listed with its reason.
"""
from __future__ import annotations

import csv
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from rdkit import Chem

import conformer_kernels as ck
from conformers._io import atomic_write, write_json
from conformers.data.features import symmetric_permutations

from .coverage import coverage_curves, coverage_metrics, summarize
from .ensembles import Ensemble, atom_map, same_graph
from .stereo import shared_stereo, stereo_elements, stereo_matches


@dataclass
class EvaluationResult:
    threshold: float
    per_molecule: list[dict]
    failures: list[dict]
    rmsd: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    seconds: float = 0.0

    @property
    def summary(self) -> dict:
        out = summarize(self.per_molecule, self.threshold, len(self.failures))
        stereo = [m for m in self.per_molecule if m.get("stereo_elements", 0) > 0]
        out["stereo_molecules"] = len(stereo)
        out["stereo_fidelity_mean"] = (float(np.mean([m["stereo_fidelity"] for m in stereo])) if stereo else None)
        # molecules whose automorphisms passed the cap (exact by the branch and bound beyond it), and
        # those where it stopped at its step budget: their RMSDs are upper bounds
        out["symmetry_capped_molecules"] = [m["molecule"] for m in self.per_molecule if m.get("symmetry_capped")]
        out["symmetry_upper_bound_molecules"] = [m["molecule"] for m in self.per_molecule
                                                 if m.get("symmetry_upper_bound")]
        out["failed_molecules"] = self.failures
        out["seconds"] = round(self.seconds, 3)
        return out

    @property
    def curves(self) -> dict:
        return coverage_curves(list(self.rmsd.values())) if self.rmsd else {}


def pair_ensembles(generated: dict[str, Ensemble], references: dict[str, Ensemble]):
    """(pairs [(key, generated, reference)], failures): by key (title/name), then, for keys that do
    not match, by canonical SMILES (isomeric, then stereo-free)."""
    pairs, failures, used = [], [], set()
    by_smiles, by_skeleton = {}, {}
    for key, ref in references.items():
        by_smiles.setdefault(ref.smiles, key)
        by_skeleton.setdefault(ref.skeleton, key)
    for key, gen in generated.items():
        match = key if key in references else by_smiles.get(gen.smiles) or by_skeleton.get(gen.skeleton)
        if match is None or match in used:
            failures.append({"key": key, "reason": "no_reference",
                             "detail": f"no reference molecule titled {key!r} or with SMILES {gen.smiles}"})
            continue
        used.add(match)
        pairs.append((match, gen, references[match]))
    for key in references:
        if key not in used:
            failures.append({"key": key, "reason": "not_generated", "detail": "no generated conformers for this molecule"})
    return pairs, failures


def evaluate_pair(gen: Ensemble, ref: Ensemble, threshold: float, stereo: bool = True):
    """(metrics dict, (G, R) RMSD matrix) of one molecule; ValueError(reason) if it cannot be evaluated."""
    X, Y, perms, capped = _rmsd_inputs(gen, ref)
    rmsd, upper = _rmsd_one(X, Y, perms, ref.mol if capped else None)
    return _pair_metrics(gen, ref, X, rmsd, capped, upper, threshold, stereo), rmsd


def _rmsd_one(X, Y, perms, capped_mol) -> tuple[np.ndarray, bool]:
    """(RMSD matrix, upper bound?) of one molecule; ``capped_mol``: the molecule when its
    automorphisms passed the cap (the search beyond it runs; upper bound: it stopped at its step
    budget for some entries)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ck.SymmetryCapWarning)
        rmsd = ck.rmsd_matrix(X, Y, perms, graph=capped_mol).numpy()
    return rmsd, any(issubclass(w.category, ck.SymmetryCapWarning) for w in caught)


def _rmsd_inputs(gen: Ensemble, ref: Ensemble):
    """(X (G, N, 3), Y (R, N, 3), automorphisms, capped) of one molecule, X in the reference's atom
    order; ValueError(reason: detail) when the pair cannot be evaluated."""
    coords = gen.coordinates
    if not same_graph(gen.mol, ref.mol):  # generated in another atom order: map onto the reference's
        match = atom_map(ref.mol, gen.mol)
        if match is None:
            raise ValueError(f"graph_mismatch: generated {Chem.MolToSmiles(gen.mol)} is not "
                             f"reference {Chem.MolToSmiles(ref.mol)}")
        coords = coords[:, match]
    if not np.isfinite(coords).all():
        raise ValueError("nonfinite_coordinates: generated conformers hold NaN/Inf")
    X, Y = torch.from_numpy(np.ascontiguousarray(coords)), torch.from_numpy(np.ascontiguousarray(ref.coordinates))
    perms, capped = symmetric_permutations(ref.mol, ck.DEFAULT_MAX_AUTOMORPHISMS)
    return X, Y, perms, capped


def _pair_metrics(gen: Ensemble, ref: Ensemble, X: torch.Tensor, rmsd: np.ndarray, capped: bool, upper: bool,
                  threshold: float, stereo: bool) -> dict:
    metrics = coverage_metrics(rmsd, threshold)
    metrics["symmetry_capped"] = capped
    metrics["symmetry_upper_bound"] = upper
    metrics["n_atoms"] = ref.mol.GetNumAtoms()
    if stereo:
        template = shared_stereo(ref.mol, ref.coordinates)
        atoms, bonds = stereo_elements(template)
        metrics["stereo_elements"] = len(atoms) + len(bonds)
        metrics["stereo_fidelity"] = float(stereo_matches(template, X.numpy()).mean()) if atoms or bonds else 1.0
    return metrics


CHUNK = 64  # molecules per rmsd_matrices call: one C++ call each, and a progress bar that moves


def evaluate(generated: dict[str, Ensemble], references: dict[str, Ensemble], threshold: float,
             stereo: bool = True, read_failures: list[dict] | None = None, progress: bool = False) -> EvaluationResult:
    """Evaluate every generated ensemble against its reference ensemble. The RMSD matrices of
    CHUNK molecules at a time come from one ck.rmsd_matrices call (molecules past the automorphism
    cap from rmsd_matrix with its guided fallback)."""
    from tqdm import tqdm

    start = time.perf_counter()
    pairs, failures = pair_ensembles(generated, references)
    known = {f["key"] for f in read_failures or []}  # a molecule whose generation failed is not failed twice
    failures = list(read_failures or []) + [f for f in failures if not (f["reason"] == "not_generated"
                                                                        and f["key"] in known)]
    per_molecule, matrices = [], {}
    with tqdm(total=len(pairs), desc="evaluate", unit="mol", disable=not progress) as bar:
        for first in range(0, len(pairs), CHUNK):
            chunk = pairs[first:first + CHUNK]
            for (key, gen, ref), inputs, rmsd, upper in zip(chunk, *_chunk_rmsd(chunk, failures)):
                if rmsd is not None:
                    per_molecule.append({"molecule": key, "smiles": ref.smiles,
                                         **_pair_metrics(gen, ref, inputs[0], rmsd, inputs[3], upper, threshold,
                                                         stereo)})
                    matrices[key] = rmsd
            bar.update(len(chunk))
    return EvaluationResult(threshold, per_molecule, failures, matrices, time.perf_counter() - start)


def _chunk_rmsd(chunk: list, failures: list) -> tuple[list, list, list]:
    """(inputs, RMSD matrix, upper bound?) per pair of the chunk, matrix None for a pair that failed
    (its failure appended to failures); upper bound: past the automorphism cap, the branch and
    bound stopped at its step budget for some entries."""
    inputs = []
    for key, gen, ref in chunk:
        try:
            inputs.append(_rmsd_inputs(gen, ref))
        except ValueError as exc:
            reason, _, detail = str(exc).partition(": ")
            failures.append({"key": key, "reason": reason if detail else "error", "detail": detail or str(exc)})
            inputs.append(None)
    plain = [k for k, x in enumerate(inputs) if x is not None and not x[3]]
    rmsd, upper = [None] * len(chunk), [False] * len(chunk)
    try:
        for k, matrix in zip(plain, ck.rmsd_matrices(*zip(*[inputs[k][:3] for k in plain])) if plain else []):
            rmsd[k] = matrix.numpy()
        rest = [k for k, x in enumerate(inputs) if x is not None and x[3]]
    except ValueError:  # a molecule the kernels refuse (coordinates too large): each on its own, named
        rest = [k for k, x in enumerate(inputs) if x is not None]
    for k in rest:  # past the automorphism cap (the search beyond it), or after a refusal
        X, Y, perms, capped = inputs[k]
        try:
            rmsd[k], upper[k] = _rmsd_one(X, Y, perms, chunk[k][2].mol if capped else None)
        except ValueError as exc:
            failures.append({"key": chunk[k][0], "reason": "error", "detail": str(exc)})
    return inputs, rmsd, upper


CSV_COLUMNS = ("molecule", "smiles", "n_atoms", "n_reference", "n_generated", "cov_recall", "mat_recall",
               "cov_precision", "mat_precision", "mis", "stereo_elements", "stereo_fidelity", "symmetry_capped",
               "symmetry_upper_bound")


def write_report(result: EvaluationResult, out: str, plot: bool = True, plotter=None) -> dict:
    """out/per_molecule.csv, out/summary.json, out/curves.json and out/coverage_curves.png (drawn in
    ``plotter``, an executor, when given: see import_matplotlib)."""
    os.makedirs(out, exist_ok=True)
    atomic_write(os.path.join(out, "per_molecule.csv"), lambda h: _write_csv(h, result.per_molecule))
    summary = result.summary
    write_json(os.path.join(out, "summary.json"), summary)
    curves = result.curves
    write_json(os.path.join(out, "curves.json"), curves, indent=None)
    if plot and curves:
        args = (curves, result.threshold, os.path.join(out, "coverage_curves.png"))
        plotter.submit(plot_curves, *args).result() if plotter else plot_curves(*args)
    return summary


def import_matplotlib() -> None:
    """Submit this to a one-process executor while the evaluation runs: importing matplotlib takes
    ~0.6 s, which write_report(plotter=that executor) then does not wait for."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401


def _write_csv(handle, rows):
    writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)


def plot_curves(curves: dict, threshold: float, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, keys, title in ((axes[0], ("cov_recall", "cov_precision"), "COV-delta"), (axes[1], ("mis",), "MIS-delta")):
        for k in keys:
            ax.plot(curves["delta"], np.asarray(curves[k]) * 100, label=k.replace("_", "-"))
        ax.axvline(threshold, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("delta (A)")
        ax.set_ylabel("%")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
