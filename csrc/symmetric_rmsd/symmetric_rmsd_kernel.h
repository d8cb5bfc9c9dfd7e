// Minimum of the aligned sum of squared deviations over a table of atom permutations.
#pragma once

#include "../common/macros.h"
#include "../common/qcp.h"
#include "../kabsch/kabsch_kernel.h"

namespace ck {

// min over k < n_perms of min_R sum_i |R (x[perms[k * n + i]] - xc) - (y_i - yc)|^2, with its k;
// n_perms == 0 means the identity alone. S0 and E0 are the identity's correlation and E0 (see
// qcp.h), which every permutation shares: E0 and the centroids are permutation-invariant, and a
// permutation's S differs from S0 only by sum over moved atoms of (x[perm[i]] - x[i]) (y_i - yc)^T
// (xc cancels). Automorphisms of molecules mostly move a few terminal or ring atoms, so this is
// far below 9 n multiply-adds each. Newton stops early on permutations that cannot win. No
// permuted or aligned copy is ever formed.
template <typename T>
CK_HOST_DEVICE inline double best_permuted_sse(const T* x, const T* y, const double yc[3], const double S0[9],
                                               double E0, const int64_t* perms, int64_t n_perms, int64_t n,
                                               int64_t* best_index) {
  const double identity_value = 2.0 * (E0 - qcp_max_eigenvalue(S0, E0));
  double lowest = n_perms > 0 ? 1e300 : identity_value;
  int64_t arg = 0;
  for (int64_t k = 0; k < n_perms; ++k) {
    const int64_t* perm = perms + k * n;
    double S[9];
    for (int c = 0; c < 9; ++c) S[c] = S0[c];
    bool moved = false;
    for (int64_t i = 0; i < n; ++i) {
      if (perm[i] == i) continue;
      moved = true;
      const T* from = x + 3 * perm[i];
      const T* to = x + 3 * i;
      const double d[3] = {(double)from[0] - (double)to[0], (double)from[1] - (double)to[1],
                           (double)from[2] - (double)to[2]};
      const double b[3] = {(double)y[3 * i] - yc[0], (double)y[3 * i + 1] - yc[1], (double)y[3 * i + 2] - yc[2]};
      for (int u = 0; u < 3; ++u)
        for (int v = 0; v < 3; ++v) S[3 * u + v] += d[u] * b[v];
    }
    const double value = moved ? 2.0 * (E0 - qcp_max_eigenvalue(S, E0, E0 - 0.5 * lowest)) : identity_value;
    if (value < lowest || value != value) { lowest = value; arg = k; }  // NaN wins: it must surface
  }
  *best_index = arg;
  return lowest < 0.0 ? 0.0 : lowest;
}

// One pair of a ragged batch: atoms ptr[b] .. ptr[b + 1], its own permutation table.
template <typename scalar_t>
CK_HOST_DEVICE inline void symmetric_sse_pair(const scalar_t* P, const scalar_t* Q,
                                              const int64_t* ptr, const int64_t* perms,
                                              const int64_t* perm_offset, const int64_t* perm_count,
                                              int64_t b, scalar_t* sse, int64_t* best) {
  const int64_t start = ptr[b], n = ptr[b + 1] - start;
  const scalar_t* p = P + 3 * start;
  const scalar_t* q = Q + 3 * start;
  double pc[3], qc[3], S0[9], E0;
  centroid(p, (const scalar_t*)nullptr, n, pc);
  centroid(q, (const scalar_t*)nullptr, n, qc);
  pair_correlation(p, q, (const scalar_t*)nullptr, n, pc, qc, S0, &E0);
  sse[b] = (scalar_t)best_permuted_sse(p, q, qc, S0, E0, perms + perm_offset[b], perm_count[b], n, best + b);
}

}  // namespace ck
