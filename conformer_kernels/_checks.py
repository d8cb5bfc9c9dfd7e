"""Input validation shared by the public ops: every failure is a ValueError naming the argument."""
from __future__ import annotations

import torch


def on_device(name: str, x: torch.Tensor) -> torch.Tensor:
    """A tensor whose data exists: meta tensors (shapes without storage) are refused by name."""
    if x.device.type == "meta":
        raise ValueError(f"{name} is on the meta device (a shape without data); pass a CPU or CUDA tensor")
    return x


def floating(name: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    on_device(name, x)
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{name} must be float32 or float64, got {x.dtype}")
    return x


def finite(name: str, x: torch.Tensor) -> torch.Tensor:
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return x


def coordinates(name: str, x, ragged: bool, check_finite: bool = True) -> torch.Tensor:
    """(B, N, 3) or (N, 3) dense, or (total, 3) ragged, floating (and finite, if asked)."""
    floating(name, x)
    if ragged and (x.dim() != 2 or x.shape[-1] != 3):
        raise ValueError(f"{name} must have shape (total, 3) with ptr, got {tuple(x.shape)}")
    if not ragged and (x.dim() not in (2, 3) or x.shape[-1] != 3):
        raise ValueError(f"{name} must have shape (B, N, 3) or (N, 3), got {tuple(x.shape)}")
    return finite(name, x) if check_finite else x


def same_layout(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape (same atom counts), "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dtype != b.dtype:
        raise ValueError(f"{name_a} and {name_b} must have the same dtype, got {a.dtype} and {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"{name_a} and {name_b} must be on the same device, got {a.device} and {b.device}")


def offsets(name: str, ptr, total: int, device: torch.device) -> torch.Tensor:
    """CSR offsets: int64, 1-D, starting at 0, non-decreasing, ending at total."""
    if not isinstance(ptr, torch.Tensor):
        ptr = torch.as_tensor(ptr)
    if ptr.dtype != torch.int64 or ptr.dim() != 1 or ptr.numel() < 1:
        raise ValueError(f"{name} must be a 1-D int64 tensor of length B + 1, got {ptr.dtype} {tuple(ptr.shape)}")
    cpu = ptr.cpu()
    if cpu[0] != 0 or cpu[-1] != total or bool((cpu[1:] < cpu[:-1]).any()):
        raise ValueError(f"{name} must start at 0, never decrease and end at the number of atoms ({total}), "
                         f"got {cpu.tolist() if cpu.numel() <= 8 else '[...]'}")
    return ptr.to(device).contiguous()


def weights(name: str, w, like: torch.Tensor, ragged: bool) -> torch.Tensor | None:
    """Per-atom weights broadcast to like's atoms: (N,) or (B, N) dense, (total,) ragged; >= 0."""
    if w is None:
        return None
    w = floating(name, w)
    if not ragged and like.dim() == 3 and w.dim() == 1:
        w = w.expand(like.shape[0], -1)
    if w.shape != like.shape[:-1]:
        raise ValueError(f"{name} must have shape {tuple(like.shape[:-1])}, got {tuple(w.shape)}")
    finite(name, w)
    if bool((w < 0).any()):
        raise ValueError(f"{name} must be non-negative")
    return w.to(like.dtype)


def permutations(name: str, perms, n_atoms: int, device: torch.device) -> torch.Tensor:
    """(P, N) int64 table, every row a permutation of range(N)."""
    if not isinstance(perms, torch.Tensor):
        perms = torch.as_tensor(perms)
    if perms.dtype not in (torch.int64, torch.int32) or perms.dim() != 2 or perms.shape[1] != n_atoms:
        raise ValueError(f"{name} must be an integer tensor of shape (P, {n_atoms}), got "
                         f"{perms.dtype} {tuple(perms.shape)}")
    if perms.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one permutation (the identity)")
    perms = perms.to(torch.int64)
    if perms.device.type == "cpu":  # a C++ loop: the sort below costs more than a small kernel call
        from . import _backend

        perms = perms.contiguous()
        valid = _backend._C().rows_are_permutations(perms)
    else:
        valid = bool((perms.sort(dim=1).values == torch.arange(n_atoms, device=perms.device)).all())
    if not valid:
        raise ValueError(f"every row of {name} must be a permutation of 0..{n_atoms - 1}")
    return perms.to(device).contiguous()


_LOW_PRECISION = (torch.bfloat16, torch.float16)


def _to_float32(value):
    if isinstance(value, torch.Tensor) and value.dtype in _LOW_PRECISION:
        return value.float()
    # plain lists and tuples only: a NamedTuple (an EdgeCSR) holds integer layouts, passed as they are
    if type(value) in (list, tuple) and any(isinstance(v, torch.Tensor) for v in value):
        return type(value)(_to_float32(v) for v in value)
    return value


def autocast_float32(op):
    """Run ``op`` in float32 under autocast: where autocast is on for the inputs' device,
    bfloat16/float16 tensor arguments become float32 and the op runs with autocast off (as torch's
    own precision-sensitive ops do), so mixed-precision models can call the kernels, which compute
    in float32/float64 only. Outside autocast a low-precision input is still refused by the checks."""
    import functools

    @functools.wraps(op)
    def wrapped(*args, **kwargs):
        devices = {v.device.type for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor)}
        devices &= {"cpu", "cuda"}  # autocast exists for these; other devices (meta) meet the checks
        if not any(torch.is_autocast_enabled(d) for d in devices):
            return op(*args, **kwargs)
        with torch.autocast(next(iter(devices)), enabled=False):
            return op(*[_to_float32(a) for a in args], **{k: _to_float32(v) for k, v in kwargs.items()})

    return wrapped
