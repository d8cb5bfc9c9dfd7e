// All-pairs aligned RMSD between conformer sets X (G x n x 3) and Y (R x n x 3) of one molecule,
// minimised over the n_perms atom permutations perms (n_perms x n; X's atom perm[i] is paired with
// Y's atom i; n_perms == 0 means the identity). Outputs (G x R, caller-allocated): sse, the
// minimal sum of squared deviations, and best, the permutation row attaining it.
// scratch: caller-allocated, rmsd_matrix_scratch_size(G, R, n) doubles (centred copies, Y's transposed
// and padded to a multiple of 16 conformers, and norms).
#pragma once

#include <cstdint>

namespace ck {

inline int64_t rmsd_matrix_scratch_size(int64_t G, int64_t R, int64_t n) {
  const int64_t R_pad = (R + 15) / 16 * 16;
  return (G + R_pad) * (3 * n + 1);
}

template <typename scalar_t>
void rmsd_matrix_cpu(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                     const int64_t* perms, int64_t n_perms, double* scratch, scalar_t* sse,
                     int64_t* best);

template <typename scalar_t>
void rmsd_matrix_cuda(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                      const int64_t* perms, int64_t n_perms, double* scratch,
                      scalar_t* sse, int64_t* best, void* stream);

}  // namespace ck
