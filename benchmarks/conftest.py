"""Benchmarks: medians of each peer in one run, and the speed targets as ratios between them.

Run: .venv/bin/python -m pytest benchmarks -q --benchmark-columns=median,iqr,rounds
Each bench file records its medians in MEDIANS; its last test asserts the target ratios.
"""
import pytest

MEDIANS: dict = {}


@pytest.fixture
def record(benchmark):
    """Runs the benchmark, then stores its median (seconds) under `key`."""
    def run(key, fn, *args, rounds=None, **kwargs):
        if rounds is None:
            result = benchmark(fn, *args, **kwargs)
        else:
            result = benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=rounds, iterations=1, warmup_rounds=1)
        MEDIANS[key] = benchmark.stats.stats.median
        return result
    return run


def ratio(slow: str, fast: str) -> float:
    if slow not in MEDIANS or fast not in MEDIANS:
        pytest.skip(f"needs both {slow} and {fast} in the same run")
    return MEDIANS[slow] / MEDIANS[fast]
