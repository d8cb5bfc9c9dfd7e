"""Benchmarks: medians of each peer in one run, and the speed targets as ratios between them.

Run: .venv/bin/python -m pytest benchmarks -q --benchmark-columns=median,iqr,rounds
Each bench file records its medians in MEDIANS; its last test asserts the target ratios.
"""
import json
import os

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
        if benchmark.stats is not None:  # None under --benchmark-disable (a smoke run): no timing to keep
            MEDIANS[key] = benchmark.stats.stats.median
        return result
    return run


def ratio(slow: str, fast: str) -> float:
    if slow not in MEDIANS or fast not in MEDIANS:
        pytest.skip(f"needs both {slow} and {fast} in the same run")
    return MEDIANS[slow] / MEDIANS[fast]


def peak_memory_mb(step, *args) -> float:
    """Peak of tensor memory allocated during one step above what existed before it (MB), from
    torch.profiler's CPU memory timeline (allocations and frees as they happen)."""
    import tempfile
    import warnings

    import numpy as np
    from torch.profiler import ProfilerActivity, profile

    step(*args)  # warm-up
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
        step(*args)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        path = os.path.join(tmp, "timeline.json")
        prof.export_memory_timeline(path, device="cpu")
        with open(path) as handle:
            _, sizes = json.load(handle)
    total = np.asarray(sizes, dtype=np.float64).sum(axis=1)
    return float(total.max() - total[0]) / 2 ** 20


def training_step(model, optimizer, batch, precision: str, clip: float) -> None:
    """One optimizer step, forward under bfloat16 CPU autocast when precision is "bfloat16",
    with the same random draws in every round and variant."""
    import torch

    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
        loss = model(batch)["loss"]
    optimizer.zero_grad(set_to_none=True)
    loss.float().backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
