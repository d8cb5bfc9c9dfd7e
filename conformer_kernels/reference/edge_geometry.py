"""Reference for edge_geometry: plain PyTorch with autograd (materialises every intermediate)."""
import math

import torch


def edge_geometry(x, index, centers, gamma, cutoff, squared):
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
