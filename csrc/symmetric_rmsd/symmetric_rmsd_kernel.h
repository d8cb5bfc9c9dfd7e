// Minimum of the aligned sum of squared deviations over a table of atom permutations.
#pragma once

#include "../common/macros.h"
#include "../common/qcp.h"
#include "../common/qcp_lanes.h"
#include "../kabsch/kabsch_kernel.h"

namespace ck {

// min over k < n_perms of min_R sum_i |R (x[perms[k * n + i]] - xc) - (y_i - yc)|^2, with its k;
// n_perms == 0 means the identity alone. S0 and E0 are the identity's correlation and E0 (see
// qcp.h), which every permutation shares: E0 and the centroids are permutation-invariant, and a
// permutation's S differs from S0 only by sum over moved atoms of (x[perm[i]] - x[i]) (y_i - yc)^T
// (xc cancels). Automorphisms of molecules mostly move a few terminal or ring atoms, so this is
// far below 9 n multiply-adds each. Newton stops early on permutations that cannot win. No
// permuted or aligned copy is ever formed.
// S = S0 corrected for the atoms perm moves: + sum over moved i of (x[perm[i]] - x[i]) (y_i - yc)^T;
// returns whether any atom moved.
template <typename T>
CK_HOST_DEVICE inline bool permuted_correlation(const T* x, const T* y, const double yc[3], const double S0[9],
                                                const int64_t* perm, int64_t n, double S[9]) {
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
  return moved;
}

template <typename T>
CK_HOST_DEVICE inline double best_permuted_sse(const T* x, const T* y, const double yc[3], const double S0[9],
                                               double E0, const int64_t* perms, int64_t n_perms, int64_t n,
                                               int64_t* best_index) {
  const double identity_value = 2.0 * (E0 - qcp_max_eigenvalue(S0, E0));
  double lowest = n_perms > 0 ? 1e300 : identity_value;
  int64_t arg = 0;
  for (int64_t k = 0; k < n_perms; ++k) {
    double S[9];
    const bool moved = permuted_correlation(x, y, yc, S0, perms + k * n, n, S);
    const double value = moved ? 2.0 * (E0 - qcp_max_eigenvalue(S, E0, E0 - 0.5 * lowest)) : identity_value;
    fold_min(lowest, arg, value, k);
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

// Pairs b0 .. b0 + W - 1 of a ragged batch: symmetric_sse_pair with the identity's eigenvalue
// solved in W lanes at once and every permutation's solve, unless the root test rules it out,
// queued in PendingSolves (the pairs' atom counts and permutation tables may all differ).
template <int W, typename scalar_t>
CK_LANES_INLINE void symmetric_sse_lanes(const scalar_t* P, const scalar_t* Q, const int64_t* ptr,
                                         const int64_t* perms, const int64_t* perm_offset, const int64_t* perm_count,
                                         int64_t b0, scalar_t* sse, int64_t* best) {
  double S0[9][W], E0[W], qc[W][3], none[W], lambda[W], identity_value[W], lowest[W];
  int64_t arg[W], most = 0;
  for (int l = 0; l < W; ++l) {
    const int64_t b = b0 + l, start = ptr[b], n = ptr[b + 1] - start;
    double pc[3], Sl[9];
    centroid(P + 3 * start, (const scalar_t*)nullptr, n, pc);
    centroid(Q + 3 * start, (const scalar_t*)nullptr, n, qc[l]);
    pair_correlation(P + 3 * start, Q + 3 * start, (const scalar_t*)nullptr, n, pc, qc[l], Sl, &E0[l]);
    set_lane_matrix<W>(S0, l, Sl);
    none[l] = -1e300;
    most = perm_count[b] > most ? perm_count[b] : most;
  }
  qcp_max_eigenvalue_lanes<W>(S0, E0, none, lambda);
  for (int l = 0; l < W; ++l) {
    identity_value[l] = 2.0 * (E0[l] - lambda[l]);
    lowest[l] = perm_count[b0 + l] > 0 ? 1e300 : identity_value[l];
    arg[l] = 0;
  }
  PendingSolves<W> pending;
  pending.count = 0;
  for (int64_t k = 0; k < most; ++k) {
    for (int l = 0; l < W; ++l) {
      const int64_t b = b0 + l, start = ptr[b], n = ptr[b + 1] - start;
      if (k >= perm_count[b]) continue;
      double S0l[9], S[9], c2, c1, c0;
      lane_matrix<W>(S0, l, S0l);
      if (!permuted_correlation(P + 3 * start, Q + 3 * start, qc[l], S0l, perms + perm_offset[b] + k * n, n, S)) {
        flush_solves<W>(pending, lowest, arg);  // keep the lane's permutations in order
        fold_min(lowest[l], arg[l], identity_value[l], k);
        continue;
      }
      qcp_coefficients(S[0], S[1], S[2], S[3], S[4], S[5], S[6], S[7], S[8], &c2, &c1, &c0);
      push_solve<W>(pending, S, c2, c1, c0, E0[l], E0[l] - 0.5 * lowest[l], l, k, lowest, arg);
    }
  }
  flush_solves<W>(pending, lowest, arg);
  for (int l = 0; l < W; ++l) {
    sse[b0 + l] = (scalar_t)(lowest[l] < 0.0 ? 0.0 : lowest[l]);
    best[b0 + l] = arg[l];
  }
}

}  // namespace ck
