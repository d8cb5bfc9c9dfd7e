"""Where ops run: the compiled kernels (default) or the pure-PyTorch references.

`use_reference()` switches every public op to its reference implementation, so a model or an
evaluation can be run both ways and compared (DESIGN.md, rule 6).
"""
from __future__ import annotations

import contextlib
import threading

import torch

_state = threading.local()


def reference_enabled() -> bool:
    return getattr(_state, "reference", False)


@contextlib.contextmanager
def use_reference(enabled: bool = True):
    """Context manager: inside it, every conformer_kernels op runs its pure-PyTorch reference."""
    previous = reference_enabled()
    _state.reference = enabled
    try:
        yield
    finally:
        _state.reference = previous


def _C():
    try:
        from . import _C as ext
    except ImportError as exc:  # pragma: no cover - only without a build
        raise ImportError("conformer_kernels._C is not built: run `pip install --no-build-isolation -e .`") from exc
    return ext


def cuda_compiled() -> bool:
    """True when the extension was built with its CUDA kernels (independent of a GPU being present)."""
    return bool(_C().cuda_compiled())


def launch(fn, device: torch.device, *args):
    """Calls a binding with the current CUDA stream of `device` (0 on CPU), under its device guard."""
    if device.type != "cuda":
        return fn(*args, 0)
    with torch.cuda.device(device):
        return fn(*args, torch.cuda.current_stream(device).cuda_stream)
