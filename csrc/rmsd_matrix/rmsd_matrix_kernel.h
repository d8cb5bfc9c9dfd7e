// All-pairs symmetric aligned RMSD between two conformer sets of one molecule.
#pragma once

#include "../symmetric_rmsd/symmetric_rmsd_kernel.h"

namespace ck {

// Centres conformer c of X (n x 3) into out (double) and returns sum_i |x_i - centroid|^2.
template <typename scalar_t>
CK_HOST_DEVICE inline double center_conformer(const scalar_t* X, int64_t c, int64_t n, double* out) {
  double mean[3];
  centroid(X + 3 * n * c, (const scalar_t*)nullptr, n, mean);
  double norm = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) {
      const double v = (double)X[3 * n * c + 3 * i + k] - mean[k];
      out[3 * n * c + 3 * i + k] = v;
      norm += v * v;
    }
  return norm;
}

// Entry (g, r) from centred coordinates, whose E0 comes from the precomputed norms.
template <typename scalar_t>
CK_HOST_DEVICE inline void rmsd_matrix_entry(const double* Xc, const double* Yc, const double* x_norm,
                                             const double* y_norm, int64_t g, int64_t r, int64_t R,
                                             int64_t n, const int64_t* perms, int64_t n_perms,
                                             scalar_t* sse, int64_t* best) {
  const double* a = Xc + 3 * n * g;
  const double* b = Yc + 3 * n * r;
  double S0[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i)
    for (int u = 0; u < 3; ++u)
      for (int v = 0; v < 3; ++v) S0[3 * u + v] += a[3 * i + u] * b[3 * i + v];
  const double origin[3] = {0.0, 0.0, 0.0};
  sse[g * R + r] = (scalar_t)best_permuted_sse(a, b, origin, S0, 0.5 * (x_norm[g] + y_norm[r]), perms, n_perms,
                                               n, best + g * R + r);
}

}  // namespace ck
