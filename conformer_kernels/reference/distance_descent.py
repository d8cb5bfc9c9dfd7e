"""Reference for distance_descent: the unrolled gradient descent in plain PyTorch ops under
autograd (an (E, 3) edge-vector tensor and its companions kept per step for the backward)."""
import torch


def distance_descent(x0, index, d, steps, lr):
    x = x0
    for _ in range(steps):
        r = x.index_select(0, index[0]) - x.index_select(0, index[1])
        length = r.norm(dim=1, keepdim=True)
        unit = torch.where(length > 0, r / length.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(r))
        grad = torch.zeros_like(x).index_add(0, index[0], 2.0 * (length - d[:, None]) * unit)
        x = x - lr * grad
    return x
