"""ConfVAE's inner loop: T steps of gradient descent on the distance-geometry energy
    H(R, d) = sum over pairs (||r_u - r_v|| - d_uv)^2,
unrolled so that the hypergradient of a loss on R_T flows back to the distances d (and from them to
the CNF, z and every parameter).

The gradient of H is conformer_kernels' vector aggregation with w_uv = 2 (||r_uv|| - d_uv) and unit
edge vectors: grad_u H = sum_v 2 (||r_uv|| - d_uv) (r_u - r_v) / ||r_uv|| (edges in both directions,
H over unordered pairs). Backpropagating through T steps is the memory and time hot spot:
- mode="fused" (default): conformer_kernels' distance_descent, the T steps and their exact
  backward (reverse steps with closed-form edge Hessians) in one op each way; keeps the steps'
  positions (T x N x 3), no per-edge tensor, no autograd graph;
- mode="last": the released code's approximation -- the first T - 1 steps without gradient, only
  the last step differentiable.
The reference of distance_descent (``ck.use_reference()``) is the same loop in plain PyTorch ops
under autograd. Two other exact unrolls that lost to "fused" (kept inputs with one step recomputed
at a time; the kernels unrolled under autograd) live in benchmarks/bench_confvae.py with their
figures in benchmarks/README.md.
"""
from __future__ import annotations

import torch

import conformer_kernels as ck

MODES = ("fused", "last")


def _distances(x, index):
    """Per-edge distance, differentiable, from conformer_kernels (no stored (E, 3) tensor; the one
    RBF feature asked for is unused)."""
    return ck.edge_geometry(x, index, torch.zeros(1, dtype=x.dtype, device=x.device), 1.0)[0]


def dg_energy(x: torch.Tensor, index: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """H(R, d) with each unordered pair counted once (edges given in both directions)."""
    r = (x[index[0]] - x[index[1]]).norm(dim=1)
    return 0.5 * (r - d).square().sum()


def dg_gradient(x: torch.Tensor, index, d: torch.Tensor) -> torch.Tensor:
    """grad_R H(R, d) (N, 3) by the fused kernel: sum_v 2 (|r_uv| - d_uv) (r_u - r_v) / |r_uv|;
    index a (2, E) tensor or its ck.edge_csr."""
    return ck.vector_aggregation(x, index, 2.0 * (_distances(x, index) - d), normalize=True)


def _step(x, index, d, lr):
    return x - lr * dg_gradient(x, index, d)


def metric_matrix_embedding(index: torch.Tensor, d: torch.Tensor, ptr: torch.Tensor) -> torch.Tensor:
    """Starting coordinates (N, 3) for distances d on the edges ``index`` (both directions) of the
    molecules ``ptr`` delimits: classical distance geometry's metric-matrix embedding. The missing
    pairs are completed by shortest paths through the given ones (Floyd-Warshall, an upper bound by
    the triangle inequality), the Gram matrix G = -1/2 J D^2 J is formed per molecule and its top
    three eigenvectors scaled by sqrt(eigenvalue) are the coordinates. Not differentiated (a
    constant start for the descent). Pairs with no path (separate fragments) are put 3 A beyond
    the molecule's largest completed distance.

    Why: gradient descent on H from random coordinates converges slowly from the wrong fold; on
    the repository's QM9 molecules with their own reference distances, 100 steps (lr 0.02) from
    N(0, I) end 1.25 A RMSD from the reference, from this start 0.63 A (benchmarks/README.md)."""
    if d.shape != (index.shape[1],) or not bool(torch.isfinite(d).all()):
        raise ValueError(f"d must hold one finite distance per edge ({index.shape[1]},)")
    with torch.no_grad():
        sizes = ptr.diff()
        B, n = sizes.numel(), int(sizes.max()) if sizes.numel() else 0
        molecule = torch.repeat_interleave(torch.arange(B, device=d.device), sizes)
        local = torch.arange(ptr[-1], device=d.device) - ptr[:-1].repeat_interleave(sizes)
        real = torch.arange(n, device=d.device)[None, :] < sizes[:, None]                      # (B, n)
        D = torch.full((B, n, n), float("inf"), dtype=d.dtype, device=d.device)
        D[molecule[index[0]], local[index[0]], local[index[1]]] = d.clamp_min(0)
        D = torch.minimum(D, D.transpose(1, 2))
        D.diagonal(dim1=1, dim2=2).zero_()
        for k in range(n):  # Floyd-Warshall, all molecules at once
            D = torch.minimum(D, D[:, :, k:k + 1] + D[:, k:k + 1, :])
        both = real[:, :, None] & real[:, None, :]
        finite = torch.isfinite(D) & both
        far = torch.where(finite, D, torch.zeros_like(D)).amax(dim=(1, 2), keepdim=True) + 3.0
        D = torch.where(finite, D, torch.where(both, far, torch.zeros_like(D)))
        square, count = D.square(), sizes.clamp_min(1).to(d.dtype)
        row = square.sum(2) / count[:, None]                                                   # padded rows are 0
        total = row.sum(1) / count
        gram = -0.5 * (square - row[:, :, None] - row[:, None, :] + total[:, None, None])
        gram = torch.where(both, gram, torch.zeros_like(gram))
        values, vectors = torch.linalg.eigh(gram)
        x = vectors[:, :, -3:] * values[:, None, -3:].clamp_min(0).sqrt()
        return x[real].contiguous()


def distance_geometry(x0: torch.Tensor, index: torch.Tensor, d: torch.Tensor, steps: int, lr: float,
                      mode: str = "fused") -> torch.Tensor:
    """R_T after ``steps`` steps R <- R - lr grad_R H(R, d) from x0 (N, 3); differentiable in d and x0
    (see the module docstring for the modes)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if d.shape != (index.shape[1],):
        raise ValueError(f"d must have one target distance per edge ({index.shape[1]},), got {tuple(d.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if mode == "fused":
        return ck.distance_descent(x0, index, d, int(steps), float(lr))
    with torch.no_grad():
        x = ck.distance_descent(x0, index, d, int(steps) - 1, float(lr))
    return _step(x, index, d, lr)
