"""conformer_kernels: fast batched alignment, RMSD and symmetric RMSD for molecular conformers.

Everything is in Angstrom, float32 or float64, CPU or CUDA (when built with CUDA). Batches are
dense (B, N, 3) or ragged (total, 3) with CSR offsets ``ptr`` (B + 1,).

    kabsch(P, Q, weights=None, ptr=None) -> (R, t, rmsd)      P @ R^T + t ~ Q
    rmsd(P, Q, weights=None, ptr=None) -> (B,)                differentiable
    aligned_squared_error(P, Q, weights=None, ptr=None) -> (B,)
    rmsd_matrix(X, Y, perms=None) -> (G, R)                   the COV/MAT workload
    rmsd_matrices(Xs, Ys, perms=None) -> [(G_m, R_m)]         ... of a whole test set in one call
    automorphisms(mol_or_graph, max_count=DEFAULT_MAX_AUTOMORPHISMS) -> (P, N)  symmetric-atom permutations
    symmetry_classes(mol_or_graph) -> (N,)
    symmetric_rmsd(P, Q, perms) -> (B,)                       what RDKit's GetBestRMS computes
    rtp_loss(pred, ref, perms) -> (B,)                        DMCG's l_RTP
    vector_aggregation(x, index, w) -> (N, 3)                 sum_j w_ij (x_i - x_j), fused
    segment_softmax_aggregate(scores, values, index, N)       per-atom softmax attention, fused
    segment_attention(query, key, values, index)              the same with q.k scores inside the kernel
    edge_geometry(x, index, centers, width, cutoff) -> (d, u, rbf)  per-edge geometry, one pass
    triplets(index, N, rotatable) -> (3, T); triplet_geometry(x, t); triplet_aggregation(x, t, f, g)
    gather_layer_norm(table, index, w, gamma, beta)           relu(LayerNorm(sum_b w table[index])), fused
    gine_aggregate(h, index, edge_attr) -> (N, C)             h_i + sum_j relu(h_j + e_ij) (GINEConv), fused
    edge_csr(index, N)                                        a checked, sorted edge list to reuse across calls
    distance_descent(x0, index, d, steps, lr) -> (N, 3)       unrolled descent on sum (|r_uv| - d_uv)^2, exact backward
    random_rotations(n) -> (n, 3, 3)                          uniform proper rotations (augmentation)
    cuda_compiled() -> bool
    use_reference()                                           run every op on its reference
"""
from ._backend import cuda_compiled, use_reference
from .ops.automorphisms import DEFAULT_MAX_COUNT as DEFAULT_MAX_AUTOMORPHISMS
from .ops.automorphisms import SymmetryCapWarning, automorphisms, symmetry_classes
from .ops.distance_descent import distance_descent
from .ops.edge_geometry import edge_geometry, gaussian_centers
from .ops.gather_layer_norm import gather_layer_norm
from .ops._edges import EdgeCSR, edge_csr
from .ops.gine_aggregate import gine_aggregate
from .ops.kabsch import aligned_squared_error, kabsch, rmsd
from .ops.rotations import random_rotations
from .ops.segment_softmax import segment_attention, segment_softmax_aggregate
from .ops.symmetric_rmsd import rmsd_matrices, rmsd_matrix, rtp_loss, symmetric_rmsd
from .ops.triplets import triplet_aggregation, triplet_geometry, triplets
from .ops.vector_aggregation import vector_aggregation

__all__ = [
    "DEFAULT_MAX_AUTOMORPHISMS",
    "EdgeCSR",
    "SymmetryCapWarning",
    "aligned_squared_error",
    "automorphisms",
    "cuda_compiled",
    "distance_descent",
    "edge_csr",
    "edge_geometry",
    "gather_layer_norm",
    "gaussian_centers",
    "gine_aggregate",
    "kabsch",
    "random_rotations",
    "rmsd",
    "rmsd_matrices",
    "rmsd_matrix",
    "rtp_loss",
    "segment_attention",
    "segment_softmax_aggregate",
    "symmetric_rmsd",
    "symmetry_classes",
    "triplet_aggregation",
    "triplet_geometry",
    "triplets",
    "use_reference",
    "vector_aggregation",
]
__version__ = "0.1.0"
