"""Reference for edge_geometry: plain PyTorch with autograd (materialises every intermediate)."""
import math

import torch


def edge_geometry(x, index, centers, width, cutoff=None, squared=False):
    """The spec of ck.edge_geometry, same arguments: distances (E,), unit vectors (E, 3) from x_j to
    x_i (0 for coincident atoms) and Gaussian features rbf_k = exp(-(f - c_k)^2 / (2 width^2)) of
    f = d (or d^2 with ``squared``), times a cosine cutoff at ``cutoff`` A (None: none), (E, K)."""
    gamma, cutoff = 1.0 / (2.0 * width * width), float(cutoff or 0.0)
    r = x[index[0]] - x[index[1]]
    d = r.norm(dim=1)
    safe = torch.where(d > 0, d, torch.ones_like(d))
    unit = torch.where((d > 0)[:, None], r / safe[:, None], torch.zeros_like(r))
    f = d * d if squared else d
    rbf = torch.exp(-gamma * (f[:, None] - centers[None, :]) ** 2)
    if cutoff > 0:
        cut = torch.where(d < cutoff, 0.5 * (torch.cos(math.pi * d / cutoff) + 1), torch.zeros_like(d))
        rbf = rbf * cut[:, None]
    return d, unit, rbf
