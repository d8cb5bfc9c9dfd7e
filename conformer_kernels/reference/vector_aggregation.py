"""Reference for vector_aggregation: plain PyTorch index ops and autograd (materialises (E, 3))."""
import torch


def vector_aggregation(x, index, weight, normalize=False):
    """The spec of ck.vector_aggregation, same arguments: sum over edges (i, j) of w_ij (x_i - x_j)
    (unit vectors with ``normalize``; 0 for coincident atoms), (N, 3)."""
    i, j = index
    r = x[i] - x[j]
    if normalize:
        d = r.norm(dim=1, keepdim=True)
        r = torch.where(d > 0, r / d.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(r))
    return torch.zeros_like(x).index_add(0, i, weight[:, None] * r)
