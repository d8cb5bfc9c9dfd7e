"""Atomic file writes: to a temporary file beside the target, then a rename, so a killed job never
leaves a half-written report, summary or checkpoint behind."""
from __future__ import annotations

import json
import os


def atomic_write(path: str, write, mode: str = "w") -> None:
    """Calls write(handle) on PATH.tmp (opened with ``mode``; text with newline=""), then renames it."""
    tmp = path + ".tmp"
    with open(tmp, mode, **({"newline": ""} if "b" not in mode else {})) as handle:
        write(handle)
    os.replace(tmp, path)


def write_json(path: str, data, **dump_options) -> None:
    """JSON to ``path`` atomically; ``dump_options`` go to json.dump (indent=1 unless given)."""
    dump_options.setdefault("indent", 1)
    atomic_write(path, lambda handle: json.dump(data, handle, **dump_options))


def fork_pool(workers: int):
    """A ProcessPoolExecutor of ``workers`` forked processes, for work beside the main process
    (reading files, drawing a plot), or None where there is one core or no fork."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
