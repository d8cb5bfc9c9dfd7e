"""Reference for gine_aggregate: PyG's GINEConv aggregation as plain PyTorch ops (materialises
the (E, C) messages)."""
import torch


def gine_aggregate(h, index, edge_attr, edge_attr_index=None, eps=0.0):
    """The spec of ck.gine_aggregate, same arguments: (1 + eps) h_i + sum over edges (i, j) of
    relu(h_j + e_ij), (N, C), with the (E, C) messages materialised."""
    attr = edge_attr if edge_attr_index is None else edge_attr.index_select(0, edge_attr_index)
    messages = torch.relu(h.index_select(0, index[1]) + attr)
    return (1 + eps) * h + torch.zeros_like(h).index_add(0, index[0], messages)
