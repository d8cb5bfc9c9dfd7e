"""Uniformly random proper rotations: data augmentation for models (DMCG's training rotates each
reference conformer) and test inputs."""
from __future__ import annotations

import torch


def random_rotations(n: int, dtype=torch.float64, generator=None, device=None) -> torch.Tensor:
    """(n, 3, 3) uniformly random proper rotations (det +1), from normalised Gaussian quaternions;
    drawn on the CPU with ``generator`` (reproducible on every device), then moved to ``device``."""
    q = torch.randn(n, 4, dtype=dtype, generator=generator)
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z,
    ], -1).reshape(n, 3, 3).to(device)
