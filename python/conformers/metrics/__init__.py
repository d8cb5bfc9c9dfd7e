"""Evaluation: COV/MAT/MIS (recall and precision) on reference ensembles, curves, stereo fidelity."""
from .._lazy import lazy_getattr

# Names load their submodule on first use (PEP 562): the readers (ensembles) do not import torch.
_SUBMODULE = {
    **dict.fromkeys(("THRESHOLDS", "coverage_curves", "coverage_metrics", "summarize"), "coverage"),
    **dict.fromkeys(("Ensemble", "EnsembleReadError", "read_cache", "read_ensembles", "read_geom", "read_sdf"),
                    "ensembles"),
    **dict.fromkeys(("EvaluationResult", "evaluate", "evaluate_pair", "pair_ensembles", "write_report"), "evaluation"),
    **dict.fromkeys(("shared_stereo", "stereo_elements", "stereo_matches"), "stereo"),
}

__all__ = sorted(_SUBMODULE)

__getattr__ = lazy_getattr(__name__, _SUBMODULE)
