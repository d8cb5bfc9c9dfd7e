"""Test helpers for conformer_kernels and its users: devices, dtypes, tolerances, random data."""
from __future__ import annotations

import math

import torch

from .ops.rotations import random_rotations  # noqa: F401  (public: conformer_kernels.random_rotations)

from ._backend import cuda_compiled

DTYPES = (torch.float32, torch.float64)
# Absolute tolerances in Angstrom (RMSD) for comparing two correct implementations.
ATOL = {torch.float32: 2e-4, torch.float64: 1e-9}


def devices() -> list[str]:
    """'cpu', plus 'cuda' when a GPU is present and the extension was built with CUDA."""
    out = ["cpu"]
    if torch.cuda.is_available() and cuda_compiled():
        out.append("cuda")
    return out


def random_conformers(batch: int, atoms: int, dtype=torch.float64, scale: float | None = None, generator=None):
    """(batch, atoms, 3) Gaussian point clouds with a molecule-like spread (Angstrom)."""
    scale = scale if scale is not None else 1.5 * max(atoms, 1) ** (1 / 3)
    return torch.randn(batch, atoms, 3, dtype=dtype, generator=generator) * scale


def perturbed_copies(X: torch.Tensor, noise: float, generator=None) -> torch.Tensor:
    """Randomly rotated, translated and noised copies of X (B, N, 3)."""
    R = random_rotations(X.shape[0], X.dtype, generator)
    t = torch.randn(X.shape[0], 1, 3, dtype=X.dtype, generator=generator) * 5
    return X @ R.transpose(1, 2) + t + noise * torch.randn(X.shape, dtype=X.dtype, generator=generator)


def rmsd_tolerance(dtype, n_atoms: int = 1) -> float:
    return ATOL[dtype] * max(1.0, math.sqrt(n_atoms) / 5)
