// All-pairs aligned RMSD between conformer sets X (G x n x 3) and Y (R x n x 3) of one molecule,
// minimised over the n_perms atom permutations perms (n_perms x n; X's atom perm[i] is paired with
// Y's atom i; n_perms == 0 means the identity). Outputs (G x R, caller-allocated): sse, the
// minimal sum of squared deviations, and best, the permutation row attaining it.
// centroid_scratch: caller-allocated, 3 * (G + R) doubles.
#pragma once

#include <cstdint>

namespace ck {

template <typename scalar_t>
void rmsd_matrix_cpu(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                     const int64_t* perms, int64_t n_perms, double* centroid_scratch, scalar_t* sse,
                     int64_t* best);

template <typename scalar_t>
void rmsd_matrix_cuda(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                      const int64_t* perms, int64_t n_perms, double* centroid_scratch,
                      scalar_t* sse, int64_t* best, void* stream);

}  // namespace ck
