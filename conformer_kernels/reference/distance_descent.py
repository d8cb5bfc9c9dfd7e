"""Reference for distance_descent: the unrolled gradient descent in plain PyTorch ops under
autograd (an (E, 3) edge-vector tensor and its companions kept per step for the backward)."""
import torch


def distance_descent(x0, index, d, steps, lr):
    """The spec of ck.distance_descent, same arguments: ``steps`` steps x <- x - lr grad_x H from x0
    (N, 3), H = sum over the edges (i, j) of (|x_i - x_j| - d_ij)^2 / 2 per direction; autograd
    differentiates through every step (an (E, 3) tensor per step: the cost the kernel avoids)."""
    x = x0
    for _ in range(steps):
        r = x.index_select(0, index[0]) - x.index_select(0, index[1])
        length = r.norm(dim=1, keepdim=True)
        unit = torch.where(length > 0, r / length.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(r))
        grad = torch.zeros_like(x).index_add(0, index[0], 2.0 * (length - d[:, None]) * unit)
        x = x - lr * grad
    return x
