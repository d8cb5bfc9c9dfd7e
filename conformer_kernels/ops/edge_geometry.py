"""Per-edge distances, unit vectors and a Gaussian radial-basis expansion with a smooth cutoff,
computed in one pass with an explicit backward."""
from __future__ import annotations

import math

import torch

from .. import _backend, _checks
from ..reference import edge_geometry as reference
from ._edges import EdgeCSR, as_csr


class _EdgeGeometry(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, row_ptr, src, centers, gamma, cutoff, squared):
        dist, unit, rbf = _backend.launch(_backend._C().edge_geometry_forward, x.device, x, row_ptr, src, centers,
                                          gamma, cutoff, squared)
        ctx.save_for_backward(x, row_ptr, src, centers)
        ctx.params = (gamma, cutoff, squared)
        return dist, unit, rbf

    @staticmethod
    def backward(ctx, grad_dist, grad_unit, grad_rbf):
        x, row_ptr, src, centers = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return (None,) * 7
        cont = lambda g: None if g is None else g.contiguous()
        gx = _backend.launch(_backend._C().edge_geometry_backward, x.device, x, row_ptr, src, centers, *ctx.params,
                             cont(grad_dist), cont(grad_unit), cont(grad_rbf))
        return gx, None, None, None, None, None, None


@_checks.autocast_float32
def edge_geometry(x: torch.Tensor, index: torch.Tensor | EdgeCSR, centers: torch.Tensor, width: float,
                  cutoff: float | None = None, squared: bool = False):
    """Distances, unit vectors and RBF features of every edge (i, j), from x_j to x_i.

    Args:
        x: (N, 3) coordinates; index: (2, E) int64, row 0 destination i, row 1 source j, or an
            ``edge_csr`` of it (checked and sorted once, for repeated calls).
        centers: (K,) Gaussian centres (Angstrom, or Angstrom^2 with ``squared``), x's dtype.
        width: Gaussian width sigma: rbf_k = exp(-(f - c_k)^2 / (2 sigma^2)).
        cutoff: smooth cosine cutoff radius in Angstrom (features vanish smoothly at it); None: none.
        squared: expand f = d^2 (ConfOpt) instead of f = d.

    Returns:
        dist (E,), unit (E, 3) = (x_i - x_j) / d (0 for coincident atoms), rbf (E, K); all
        differentiable with respect to x, in one backward pass over the edges.
    """
    x = _checks.floating("x", x)
    if x.dim() != 2 or x.shape[1] != 3:
        raise ValueError(f"x must have shape (N, 3), got {tuple(x.shape)}")
    csr = as_csr(index, x.shape[0], x.device)
    if not torch.is_tensor(centers) or centers.dim() != 1 or centers.dtype != x.dtype or centers.device != x.device:
        raise ValueError("centers must be a (K,) tensor with x's dtype and device")
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    gamma, rc = 1.0 / (2.0 * width * width), float(cutoff or 0.0)
    if _backend.reference_enabled():
        return reference.edge_geometry(x, csr.index, centers, width, cutoff, squared)
    dist, unit, rbf = _EdgeGeometry.apply(x.contiguous(), csr.row_ptr, csr.src, centers.contiguous(), gamma, rc,
                                          bool(squared))
    return csr.to_given_order(dist, unit, rbf)


def gaussian_centers(start: float, stop: float, count: int, dtype=torch.float32, device=None):
    """Evenly spaced centres and the matching width (their spacing), as SchNet/EGNN/ConfOpt use."""
    centers = torch.linspace(start, stop, count, dtype=dtype, device=device)
    return centers, (stop - start) / max(count - 1, 1) if count > 1 else math.inf
