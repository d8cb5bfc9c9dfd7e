"""Evaluation: COV/MAT/MIS (recall and precision) on reference ensembles, curves, stereo fidelity."""
from .coverage import THRESHOLDS, coverage_curves, coverage_metrics, summarize
from .ensembles import Ensemble, EnsembleReadError, read_cache, read_ensembles, read_geom, read_sdf
from .evaluate import EvaluationResult, evaluate, evaluate_pair, pair_ensembles, write_report
from .stereo import shared_stereo, stereo_elements, stereo_matches

__all__ = ["THRESHOLDS", "Ensemble", "EnsembleReadError", "EvaluationResult", "coverage_curves", "coverage_metrics",
           "evaluate", "evaluate_pair", "pair_ensembles", "read_cache", "read_ensembles", "read_geom", "read_sdf",
           "shared_stereo", "stereo_elements", "stereo_matches", "summarize", "write_report"]
