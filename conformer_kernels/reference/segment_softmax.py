"""Reference for segment_softmax_aggregate: scatter-max, exp, scatter-sum (materialises (E, H))."""
import torch


def segment_softmax_aggregate(scores, values, index, num_nodes):
    """The spec of ck.segment_softmax_aggregate, same arguments: per destination atom i and head h,
    the softmax of scores over i's incoming edges applied to values, (N, H, D) (0 for no edges)."""
    dst = index[0]
    H = scores.shape[1]
    m = torch.full((num_nodes, H), -torch.inf, dtype=scores.dtype, device=scores.device)
    m = m.scatter_reduce(0, dst[:, None].expand(-1, H), scores, "amax", include_self=True)
    p = torch.exp(scores - m[dst])
    z = torch.zeros((num_nodes, H), dtype=scores.dtype, device=scores.device).index_add(0, dst, p)
    p = p / z[dst]
    out = torch.zeros((num_nodes, H, values.shape[2]), dtype=values.dtype, device=values.device)
    return out.index_add(0, dst, p[..., None] * values)


def segment_attention(query, key, values, index, scale=None):
    """The spec of ck.segment_attention, same arguments (index a (2, E) tensor): the (E, H) scores
    scale <query[index[0]], key> formed, then segment_softmax_aggregate; (N, H, D)."""
    import math

    scale = 1.0 / math.sqrt(query.shape[2]) if scale is None else float(scale)
    scores = (query[index[0]] * key).sum(-1) * scale
    return segment_softmax_aggregate(scores, values, index, query.shape[0])
