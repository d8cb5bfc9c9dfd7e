"""References for the triplet ops: a Python loop for the index, plain autograd for the rest."""
import torch


def triplets(index, num_nodes, rotatable=None):
    """The spec of ck.triplets: (3, T) int64 (i, j, k), j <= k, with edges (i, j) and (i, k) (with
    ``rotatable``, only those where j == k or one of the two edges is rotatable), sorted; by brute
    force over each atom's neighbours."""
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
    """The spec of ck.triplet_geometry, same arguments: (d_ij, d_ik, <r_ij, r_ik>) per triplet,
    r_ij = x_i - x_j, by autograd-tracked index ops."""
    rj, rk = x[t[0]] - x[t[1]], x[t[0]] - x[t[2]]
    return rj.norm(dim=1), rk.norm(dim=1), (rj * rk).sum(1)


def triplet_aggregation(x, t, f, g):
    """The spec of ck.triplet_aggregation, same arguments: out_i = sum over triplets (i, j, k) of
    f_t (x_i - x_j) + g_t (x_i - x_k), (N, 3), with the (T, 3) terms materialised."""
    terms = f[:, None] * (x[t[0]] - x[t[1]]) + g[:, None] * (x[t[0]] - x[t[2]])
    return torch.zeros_like(x).index_add(0, t[0], terms)
