// All-pairs symmetric aligned RMSD between two conformer sets of one molecule.
#pragma once

#include "../symmetric_rmsd/symmetric_rmsd_kernel.h"

namespace ck {

// Entry (g, r): conformer g of X against conformer r of Y, both n atoms, centroids precomputed.
template <typename scalar_t>
CK_HOST_DEVICE inline void rmsd_matrix_entry(const scalar_t* X, const scalar_t* Y,
                                             const double* x_centroid, const double* y_centroid,
                                             int64_t g, int64_t r, int64_t R, int64_t n,
                                             const int64_t* perms, int64_t n_perms, scalar_t* sse,
                                             int64_t* best) {
  sse[g * R + r] = (scalar_t)best_permuted_sse(X + 3 * n * g, Y + 3 * n * r, x_centroid + 3 * g,
                                               y_centroid + 3 * r, perms, n_perms, n, best + g * R + r);
}

}  // namespace ck
