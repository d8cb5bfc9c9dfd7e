// All-pairs symmetric aligned RMSD between two conformer sets of one molecule.
#pragma once

#include "../symmetric_rmsd/symmetric_rmsd_kernel.h"

namespace ck {

// Centres conformer c of X (n x 3) into out (double) and returns sum_i |x_i - centroid|^2.
template <typename scalar_t>
CK_HOST_DEVICE inline double center_conformer(const scalar_t* X, int64_t c, int64_t n, double* out) {
  double mean[3];
  centroid(X + 3 * n * c, n, mean);
  double norm = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) {
      const double v = (double)X[3 * n * c + 3 * i + k] - mean[k];
      out[3 * n * c + 3 * i + k] = v;
      norm += v * v;
    }
  return norm;
}

// Entry (g, r) from centred coordinates: E0 is permutation-invariant, so each permutation costs
// only the 9 n multiply-adds of S and one largest eigenvalue.
template <typename scalar_t>
CK_HOST_DEVICE inline void rmsd_matrix_entry(const double* Xc, const double* Yc, const double* x_norm,
                                             const double* y_norm, int64_t g, int64_t r, int64_t R,
                                             int64_t n, const int64_t* perms, int64_t n_perms,
                                             scalar_t* sse, int64_t* best) {
  const double* a = Xc + 3 * n * g;
  const double* b = Yc + 3 * n * r;
  const double E0 = 0.5 * (x_norm[g] + y_norm[r]);
  // S of the identity once; a permutation then only corrects the atoms it moves (automorphisms
  // of molecules typically move a few terminal or ring atoms, so this is far below 9 n each).
  double S0[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i)
    for (int u = 0; u < 3; ++u)
      for (int v = 0; v < 3; ++v) S0[3 * u + v] += a[3 * i + u] * b[3 * i + v];
  const double identity_value = 2.0 * (E0 - qcp_max_eigenvalue(S0, E0));
  double lowest = n_perms > 0 ? 1e300 : identity_value;  // no table: the identity alone
  int64_t arg = 0;
  for (int64_t k = 0; k < n_perms; ++k) {
    const int64_t* perm = perms + k * n;
    double S[9];
    for (int c = 0; c < 9; ++c) S[c] = S0[c];
    bool moved = false;
    for (int64_t i = 0; i < n; ++i) {
      if (perm[i] == i) continue;
      moved = true;
      const double* x = a + 3 * perm[i];
      const double d[3] = {x[0] - a[3 * i], x[1] - a[3 * i + 1], x[2] - a[3 * i + 2]};
      for (int u = 0; u < 3; ++u)
        for (int v = 0; v < 3; ++v) S[3 * u + v] += d[u] * b[3 * i + v];
    }
    const double value = moved ? 2.0 * (E0 - qcp_max_eigenvalue(S, E0, E0 - 0.5 * lowest)) : identity_value;
    if (value < lowest || value != value) { lowest = value; arg = k; }  // NaN must surface
  }
  sse[g * R + r] = (scalar_t)(lowest < 0.0 ? 0.0 : lowest);
  best[g * R + r] = arg;
}

}  // namespace ck
