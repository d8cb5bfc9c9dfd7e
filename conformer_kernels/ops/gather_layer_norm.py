"""The first layer of an MLP over gathered inputs, fused with its LayerNorm and ReLU:
out_m = relu(LayerNorm(sum_b w_mb table[index_mb])). See csrc/gather_layer_norm for why."""
from __future__ import annotations

import torch

from .. import _backend, _checks
from ..reference import gather_layer_norm as reference
from ._edges import group_by_key


class _GatherLayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, table, index, weight, gamma, beta, eps, relu):
        out, mean, rstd = _backend.launch(_backend._C().gather_layer_norm_forward, table.device, table, index, weight,
                                          gamma, beta, eps, relu)
        ctx.save_for_backward(table, index, weight, gamma, beta, mean, rstd)
        ctx.relu = relu
        return out

    @staticmethod
    def backward(ctx, grad_out):
        table, index, weight, gamma, beta, mean, rstd = ctx.saved_tensors
        need_table, need_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[2]
        C = _backend._C()
        grad_pre, grad_weight, grad_gamma, grad_beta = _backend.launch(
            C.gather_layer_norm_backward, table.device, table, index, weight, gamma, beta, mean, rstd,
            grad_out.contiguous(), ctx.relu, need_weight)
        grad_table = None
        if need_table:
            ptr, entries = group_by_key(index.reshape(-1), table.shape[0])
            grad_table = _backend.launch(C.gather_table_backward, table.device, grad_pre, weight, ptr, entries,
                                         index.shape[1])
        return (grad_table, None, grad_weight if need_weight else None,
                grad_gamma if ctx.needs_input_grad[3] else None, grad_beta if ctx.needs_input_grad[4] else None,
                None, None)


@_checks.autocast_float32
def gather_layer_norm(table: torch.Tensor, index: torch.Tensor, weight: torch.Tensor | None, gamma: torch.Tensor,
                      beta: torch.Tensor, eps: float = 1e-5, relu: bool = True) -> torch.Tensor:
    """relu(LayerNorm(sum_b weight[m, b] * table[index[m, b]])) for every row m, in one pass.

    A Linear of concatenated per-edge inputs [h_j, e_ij, rbf_ij, ...] followed by LayerNorm and
    ReLU is this op once the Linear's weight is split by input: table holds h W_h^T (one row per
    atom), pair_table W_e^T (one per pair class), the columns of W_rbf (weighted by the basis
    values) and the bias (weight 1). Neither the concatenated input nor the pre-activation is
    stored: the backward recomputes it from the gathers (one (M, C) buffer, freed on return).

    Args:
        table: (R, C) float32/float64 rows.
        index: (M, B) int64 rows of ``table`` summed into row m.
        weight: (M, B) their weights (table's dtype), or None for all ones.
        gamma, beta: (C,) LayerNorm's affine parameters.
        relu: apply ReLU after the LayerNorm.

    Returns:
        (M, C), differentiable in table, weight, gamma and beta.
    """
    table = _checks.floating("table", table)
    if table.dim() != 2:
        raise ValueError(f"table must have shape (R, C), got {tuple(table.shape)}")
    if not torch.is_tensor(index) or index.dtype != torch.int64 or index.dim() != 2:
        raise ValueError("index must be an int64 tensor of shape (M, B)")
    if index.device != table.device:
        raise ValueError(f"index must be on table's device ({table.device}), got {index.device}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= table.shape[0]):
        raise ValueError(f"index must lie in [0, {table.shape[0]}) (the rows of table)")
    if weight is not None and (not torch.is_tensor(weight) or weight.shape != index.shape
                               or weight.dtype != table.dtype or weight.device != table.device):
        raise ValueError(f"weight must be None or a {tuple(index.shape)} tensor with table's dtype and device")
    for name, p in (("gamma", gamma), ("beta", beta)):
        if not torch.is_tensor(p) or p.shape != (table.shape[1],) or p.dtype != table.dtype or p.device != table.device:
            raise ValueError(f"{name} must be a ({table.shape[1]},) tensor with table's dtype and device")
    if _backend.reference_enabled():
        return reference.gather_layer_norm(table, index, weight, gamma, beta, eps, relu)
    weight = None if weight is None else weight.contiguous()
    return _GatherLayerNorm.apply(table.contiguous(), index.contiguous(), weight, gamma.contiguous(),
                                  beta.contiguous(), float(eps), bool(relu))
