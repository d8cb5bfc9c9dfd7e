"""Hardware facts the package's precision choices depend on (no imports from the package)."""
from __future__ import annotations

import os

import torch

PRECISIONS = ("auto", "float32", "bfloat16")


def parse_device(spec) -> tuple[str, int | None]:
    """("auto" | "cpu" | "cuda", index or None) of a ``--device`` value, without asking the hardware;
    ValueError for anything else (the config check and resolve_device share it)."""
    text = str(spec if spec is not None else "auto").strip().lower()
    if text in ("auto", "cpu", "cuda"):
        return text, None
    if text.startswith("cuda:") and text[5:].isdigit():
        return "cuda", int(text[5:])
    raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {spec!r}")


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The torch device a ``--device`` value names: "auto" (CUDA when available, else CPU), "cpu",
    "cuda" or "cuda:N". Under torchrun (LOCAL_RANK set) "auto" and "cuda" take the rank's own GPU;
    "auto" takes the CPU on every rank where the node has fewer GPUs than processes (ranks must
    agree: NCCL or gloo). A clear ValueError for a device this machine does not have."""
    kind, index = parse_device(spec)
    if kind == "auto":
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        kind = "cuda" if torch.cuda.is_available() and torch.cuda.device_count() >= per_node else "cpu"
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"device {spec!r}: this torch has no usable CUDA device (torch.cuda.is_available() "
                         "is False); use --device cpu or auto")
    index = int(os.environ.get("LOCAL_RANK", "0")) if index is None else index
    if index >= torch.cuda.device_count():
        raise ValueError(f"device {spec!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def module_device(module: torch.nn.Module) -> torch.device:
    """Where a model's parameters live (CPU for a model without parameters)."""
    first = next(module.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def native_bfloat16(device: torch.device | str = "cpu") -> bool:
    """Whether bfloat16 GEMMs run natively (AVX512-BF16/AMX CPUs through oneDNN, Ampere+ GPUs)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast_dtype(precision: str, device: torch.device | str = "cpu"):
    """The autocast dtype for a training precision setting: bfloat16, or None for float32.
    "auto" takes bfloat16 on a GPU that runs it natively and float32 on a CPU: on this AVX512-BF16
    CPU, bfloat16 autocast slowed every model's training step (0.42x-0.86x of float32,
    benchmarks/bench_precision.py); "bfloat16" asks for it anyway."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" and native_bfloat16(device) else None
    return torch.bfloat16 if precision == "bfloat16" else None
