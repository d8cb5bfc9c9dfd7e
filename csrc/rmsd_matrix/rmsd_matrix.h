// All-pairs aligned RMSD between conformer sets X (G x n x 3) and Y (R x n x 3) of one molecule,
// minimised over the n_perms atom permutations perms (n_perms x n; X's atom perm[i] is paired with
// Y's atom i; n_perms == 0 means the identity). Outputs (G x R, caller-allocated): sse, the
// minimal sum of squared deviations, and best, the permutation row attaining it.
// scratch: caller-allocated, rmsd_matrix_scratch_size(G, R, n) doubles (centred copies, Y's transposed
// and padded to a multiple of kRmsdMatrixPad conformers, and norms; see RmsdMatrixScratch).
#pragma once

#include <cstdint>

namespace ck {

// Reference conformers are padded to a multiple of this (the CPU lane group, kCpuLanes).
constexpr int64_t kRmsdMatrixPad = 16;

inline int64_t rmsd_matrix_padded(int64_t R) { return (R + kRmsdMatrixPad - 1) / kRmsdMatrixPad * kRmsdMatrixPad; }

inline int64_t rmsd_matrix_scratch_size(int64_t G, int64_t R, int64_t n) {
  return (G + rmsd_matrix_padded(R)) * (3 * n + 1);
}

template <typename scalar_t>
void rmsd_matrix_cpu(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                     const int64_t* perms, int64_t n_perms, double* scratch, scalar_t* sse,
                     int64_t* best);

// Many molecules in one call: molecule m's arrays are X[m] (G[m] x n[m] x 3), Y[m], perms[m]
// (n_perms[m] x n[m]), scratch[m] (rmsd_matrix_scratch_size(G[m], R[m], n[m]) doubles), sse[m]
// and best[m] (G[m] x R[m]). The lane groups of all molecules share one parallel loop, so that a
// test set of small molecules keeps every core busy.
template <typename scalar_t>
void rmsd_matrices_cpu(int64_t M, const scalar_t* const* X, const scalar_t* const* Y, const int64_t* G,
                       const int64_t* R, const int64_t* n, const int64_t* const* perms, const int64_t* n_perms,
                       double* const* scratch, scalar_t* const* sse, int64_t* const* best);

template <typename scalar_t>
void rmsd_matrix_cuda(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                      const int64_t* perms, int64_t n_perms, double* scratch,
                      scalar_t* sse, int64_t* best, void* stream);

}  // namespace ck
