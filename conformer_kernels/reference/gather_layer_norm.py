"""Reference for gather_layer_norm: gather, weighted sum, LayerNorm and ReLU as plain PyTorch ops
(materialises the (M, B, C) gathered rows)."""
import torch


def gather_layer_norm(table, index, weight, gamma, beta, eps=1e-5, relu=True):
    """The spec of ck.gather_layer_norm, same arguments: relu(LayerNorm(sum_b weight[m, b] *
    table[index[m, b]]) * gamma + beta) per row m, (M, C), with the gathered sum materialised."""
    rows = table[index]                                               # (M, B, C)
    pre = (rows * weight[..., None]).sum(1) if weight is not None else rows.sum(1)
    out = torch.nn.functional.layer_norm(pre, (table.shape[1],), gamma, beta, eps)
    return torch.relu(out) if relu else out
