"""Local geometry terms shared by the models' losses: bond lengths and bond angles of generated
conformers against their references'."""
from __future__ import annotations

import torch

import conformer_kernels as ck


def bond_angles(bonds: torch.Tensor, num_atoms: int) -> torch.Tensor:
    """(3, T) centre, a, b of every bond angle a-centre-b (a < b) of a (2, E) bond index, given in
    one or both directions."""
    both = torch.cat([bonds, bonds.flip(0)], 1).unique(dim=1)
    centre, a, b = ck.triplets(both, num_atoms)
    keep = a < b  # triplets lists every ordered neighbour pair, a == b included
    return torch.stack([centre[keep], a[keep], b[keep]])


def local_geometry_errors(x: torch.Tensor, reference: torch.Tensor, bonds: torch.Tensor,
                          angles: torch.Tensor) -> tuple:
    """(mean |bond length error| in A, mean |bond-angle cosine error|) of conformers x (..., N, 3)
    against reference (..., N, 3), broadcast against each other; bonds (2, E), angles (3, T) from
    bond_angles. Invariant to rigid motions, so no alignment is needed; no permutation either
    (symmetric atoms' bonds and angles differ little). Without bonds (single atoms) both are 0."""
    if not bonds.shape[1]:
        return x.sum() * 0, x.sum() * 0
    i, j = bonds
    lengths = lambda y: (y[..., i, :] - y[..., j, :]).norm(dim=-1)
    bond = (lengths(x) - lengths(reference)).abs().mean()
    if not angles.shape[1]:
        return bond, x.sum() * 0
    centre, a, b = angles

    def cosines(y):
        u, v = y[..., a, :] - y[..., centre, :], y[..., b, :] - y[..., centre, :]
        return (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1)).clamp_min(1e-6)

    return bond, (cosines(x) - cosines(reference)).abs().mean()
