"""Hardware facts the package's precision choices depend on (no imports from the package)."""
from __future__ import annotations

import torch

PRECISIONS = ("auto", "float32", "bfloat16")


def native_bfloat16(device: torch.device | str = "cpu") -> bool:
    """Whether bfloat16 GEMMs run natively (AVX512-BF16/AMX CPUs through oneDNN, Ampere+ GPUs)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast_dtype(precision: str, device: torch.device | str = "cpu"):
    """The autocast dtype for a training precision setting: bfloat16, or None for float32.
    "auto" takes bfloat16 where the hardware runs it natively."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return torch.bfloat16 if native_bfloat16(device) else None
    return torch.bfloat16 if precision == "bfloat16" else None
