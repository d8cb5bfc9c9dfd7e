// Minimum of the aligned sum of squared deviations over a table of atom permutations.
#pragma once

#include "../common/macros.h"
#include "../common/qcp.h"
#include "../kabsch/kabsch_kernel.h"

namespace ck {

// min over k < n_perms of min_R sum_i |R (p[perms[k * n + i]] - pc) - (q_i - qc)|^2, with its k.
// Centroids are permutation-invariant, so they are computed once by the caller; only S and the
// largest eigenvalue are per permutation, and no permuted or aligned copy is ever formed.
// n_perms == 0 means the identity only.
template <typename scalar_t>
CK_HOST_DEVICE inline double best_permuted_sse(const scalar_t* p, const scalar_t* q,
                                               const double pc[3], const double qc[3],
                                               const int64_t* perms, int64_t n_perms, int64_t n,
                                               int64_t* best_index) {
  double best = 1e300;
  int64_t arg = 0;
  const int64_t count = n_perms > 0 ? n_perms : 1;
  for (int64_t k = 0; k < count; ++k) {
    double S[9], E0;
    pair_correlation(p, q, (const scalar_t*)nullptr, n_perms > 0 ? perms + k * n : nullptr, n, pc,
                     qc, S, &E0);
    const double sse = 2.0 * (E0 - qcp_max_eigenvalue(S, E0, E0 - 0.5 * best));
    if (sse < best || sse != sse) { best = sse; arg = k; }  // NaN wins: it must surface
  }
  *best_index = arg;
  return best < 0.0 ? 0.0 : best;
}

// Unweighted centroid of n points.
template <typename scalar_t>
CK_HOST_DEVICE inline void centroid(const scalar_t* x, int64_t n, double c[3]) {
  c[0] = c[1] = c[2] = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) c[k] += (double)x[3 * i + k];
  const double inv = n > 0 ? 1.0 / (double)n : 0.0;
  for (int k = 0; k < 3; ++k) c[k] *= inv;
}

// One pair of a ragged batch: atoms ptr[b] .. ptr[b + 1], its own permutation table.
template <typename scalar_t>
CK_HOST_DEVICE inline void symmetric_sse_pair(const scalar_t* P, const scalar_t* Q,
                                              const int64_t* ptr, const int64_t* perms,
                                              const int64_t* perm_offset, const int64_t* perm_count,
                                              int64_t b, scalar_t* sse, int64_t* best) {
  const int64_t start = ptr[b], n = ptr[b + 1] - start;
  double pc[3], qc[3];
  centroid(P + 3 * start, n, pc);
  centroid(Q + 3 * start, n, qc);
  sse[b] = (scalar_t)best_permuted_sse(P + 3 * start, Q + 3 * start, pc, qc, perms + perm_offset[b],
                                       perm_count[b], n, best + b);
}

}  // namespace ck
