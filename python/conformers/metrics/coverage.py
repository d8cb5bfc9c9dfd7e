"""COV / MAT / MIS from a generated x reference RMSD matrix, as the four papers define them.

COV-R: share of references with a generated conformer within delta (RMSD <= delta); MAT-R: mean
over references of the best RMSD; COV-P / MAT-P: the same with the roles swapped; MIS: share of
generated conformers within delta of no reference (= 1 - COV-P).
"""
from __future__ import annotations

import numpy as np

THRESHOLDS = {"qm9": 0.5, "drugs": 1.25}  # Angstrom, the field's deltas
CURVE_DELTAS = np.round(np.arange(0.0, 3.0001, 0.05), 2)


def coverage_metrics(rmsd: np.ndarray, threshold: float) -> dict:
    """Metrics of one molecule from its (G, R) matrix: generated rows, reference columns."""
    rmsd = np.asarray(rmsd, dtype=np.float64)
    if rmsd.ndim != 2 or 0 in rmsd.shape:
        raise ValueError(f"rmsd must be a non-empty (generated, reference) matrix, got shape {rmsd.shape}")
    best_for_ref, best_for_gen = rmsd.min(0), rmsd.min(1)
    return {
        "n_generated": rmsd.shape[0], "n_reference": rmsd.shape[1],
        "cov_recall": float((best_for_ref <= threshold).mean()), "mat_recall": float(best_for_ref.mean()),
        "cov_precision": float((best_for_gen <= threshold).mean()), "mat_precision": float(best_for_gen.mean()),
        "mis": float((best_for_gen > threshold).mean()),
    }


def coverage_curves(rmsds: list[np.ndarray], deltas=CURVE_DELTAS) -> dict:
    """Mean over molecules of COV-R, COV-P and MIS at every delta: the COV-delta / MIS-delta curves."""
    deltas = np.asarray(deltas, dtype=np.float64)
    recall = np.stack([(m.min(0)[None, :] <= deltas[:, None]).mean(1) for m in rmsds]).mean(0)
    precision = np.stack([(m.min(1)[None, :] <= deltas[:, None]).mean(1) for m in rmsds]).mean(0)
    return {"delta": deltas.tolist(), "cov_recall": recall.tolist(), "cov_precision": precision.tolist(),
            "mis": (1.0 - precision).tolist()}


def summarize(per_molecule: list[dict], threshold: float, n_failed: int) -> dict:
    """Mean and median over molecules of every metric, with the counts behind them."""
    out = {"n_molecules": len(per_molecule), "n_failed": n_failed, "threshold": threshold,
           "n_generated_conformers": int(sum(m["n_generated"] for m in per_molecule)),
           "n_reference_conformers": int(sum(m["n_reference"] for m in per_molecule))}
    for key in ("cov_recall", "mat_recall", "cov_precision", "mat_precision", "mis"):
        values = np.asarray([m[key] for m in per_molecule], dtype=np.float64)
        out[f"{key}_mean"] = float(values.mean()) if len(values) else None
        out[f"{key}_median"] = float(np.median(values)) if len(values) else None
    # Torsional diffusion's convention, for comparison: failed molecules count as COV 0.
    total = len(per_molecule) + n_failed
    out["cov_recall_mean_failures_as_zero"] = (float(sum(m["cov_recall"] for m in per_molecule) / total)
                                               if total else None)
    return out
