"""Dense (B, N, 3) / single (N, 3) / ragged (total, 3) + ptr inputs, all mapped to the ragged form."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import _checks


@dataclass
class Pairs:
    P: torch.Tensor            # (total, 3), contiguous
    Q: torch.Tensor            # (total, 3), contiguous
    weights: torch.Tensor | None  # (total,) or None
    ptr: torch.Tensor          # (B + 1,) int64 on P's device
    batch_shape: tuple         # () for a single (N, 3) pair, (B,) otherwise
    atom_shape: tuple          # the shape P had
    ragged: bool               # given as (total, 3) + ptr
    names: tuple = ("P", "Q")  # argument names for error messages

    @property
    def n_pairs(self) -> int:
        return self.ptr.numel() - 1

    @property
    def n_atoms(self) -> int | None:
        """Atoms per pair for dense inputs, None for ragged ones."""
        return None if self.ragged else self.atom_shape[-2]


def as_pairs(P, Q, weights=None, ptr=None, names=("P", "Q")) -> Pairs:
    """Validates shapes, dtypes, devices and offsets. NaN/Inf are found afterwards, from the O(B)
    results, by `check_finite`: they propagate into every per-pair sum, and a full scan of the
    inputs up front would cost as much as the kernel itself."""
    ragged = ptr is not None
    P = _checks.coordinates(names[0], P, ragged, check_finite=False)
    Q = _checks.coordinates(names[1], Q, ragged, check_finite=False)
    _checks.same_layout(names[0], P, names[1], Q)
    w = _checks.weights("weights", weights, P, ragged)
    if ragged:
        ptr = _checks.offsets("ptr", ptr, P.shape[0], P.device)
        batch_shape = (ptr.numel() - 1,)
    else:
        B, N = (1, P.shape[0]) if P.dim() == 2 else P.shape[:2]
        ptr = torch.arange(B + 1, device=P.device, dtype=torch.int64) * N
        batch_shape = () if P.dim() == 2 else (B,)
    flat = lambda x: x.reshape(-1, 3).contiguous()
    return Pairs(flat(P), flat(Q), None if w is None else w.reshape(-1).contiguous(), ptr, batch_shape, tuple(P.shape),
                 ragged, names)


def check_finite(pairs: Pairs, result: torch.Tensor) -> None:
    """Raises a ValueError naming the input that holds NaN/Inf when a per-pair result is not finite."""
    if result.numel() and not bool(torch.isfinite(result).all()):
        for name, x in zip(pairs.names, (pairs.P, pairs.Q)):
            _checks.finite(name, x)
        if pairs.weights is not None:
            _checks.finite("weights", pairs.weights)
        raise ValueError(f"{pairs.names[0]} and {pairs.names[1]} give a non-finite result: coordinates too large")
