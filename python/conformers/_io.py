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
