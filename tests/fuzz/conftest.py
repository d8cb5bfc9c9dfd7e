"""Hypothesis profiles of the fuzz suite: `ci` (the default, a fast slice that runs in CI) and `long`
(on demand: `CONFORMERS_FUZZ=long pytest tests/fuzz --hypothesis-show-statistics`; its figures are in
benchmarks/README.md). Both are derandomized so that a failure reproduces on every run."""
import os

from hypothesis import HealthCheck, settings

COMMON = dict(deadline=None, derandomize=True, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=30, **COMMON)
settings.register_profile("long", max_examples=300, **COMMON)
settings.load_profile(os.environ.get("CONFORMERS_FUZZ", "ci"))
