"""References for the triplet ops: a Python loop for the index, plain autograd for the rest."""
import torch


def triplets(index, num_nodes, rotatable=None):
    edges = {}
    for e, (i, j) in enumerate(index.t().tolist()):
        edges.setdefault(i, []).append((j, e))
    out = []
    for i in range(num_nodes):
        for j, a in edges.get(i, []):
            for k, b in edges.get(i, []):
                if j <= k and (rotatable is None or j == k or bool(rotatable[a]) or bool(rotatable[b])):
                    out.append((i, j, k))
    return torch.tensor(sorted(out), dtype=torch.int64).reshape(-1, 3).t()


def triplet_geometry(x, t):
    rj, rk = x[t[0]] - x[t[1]], x[t[0]] - x[t[2]]
    return rj.norm(dim=1), rk.norm(dim=1), (rj * rk).sum(1)


def triplet_aggregation(x, t, f, g):
    terms = f[:, None] * (x[t[0]] - x[t[1]]) + g[:, None] * (x[t[0]] - x[t[2]])
    return torch.zeros_like(x).index_add(0, t[0], terms)
