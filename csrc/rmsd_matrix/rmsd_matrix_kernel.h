// All-pairs symmetric aligned RMSD between two conformer sets of one molecule, W pairs at a time.
//
// Layout. X's conformers are centred into Xc (G x n x 3, one conformer's atoms together: a lane
// group shares one g and reads its atoms as broadcast scalars). Y's are centred and transposed into
// Yt (n x 3 x R_pad, the reference conformer innermost): W consecutive reference conformers' value
// of one coordinate is one contiguous run, a SIMD vector on the CPU (W lanes) and a coalesced read
// across a CUDA warp (W = 1, one thread per pair, consecutive threads consecutive r).
//
// Work per lane group (one g, W consecutive r): the 3x3 correlations of the identity, a GEMM-shaped
// broadcast-multiply-add over the atoms (9 n multiply-adds per pair); for each permutation, the
// correlation corrected over the atoms it moves only (see symmetric_rmsd_kernel.h) and the QCP
// eigenvalue by Newton in all W lanes together, stopping once every lane has converged or cannot
// beat its best permutation so far.
#pragma once

#include "../common/qcp_lanes.h"
#include "rmsd_matrix.h"
#include "../symmetric_rmsd/symmetric_rmsd_kernel.h"

namespace ck {

static_assert(kRmsdMatrixPad % kCpuLanes == 0, "the padding must fill whole CPU lane groups");

// The caller's scratch (rmsd_matrix_scratch_size doubles), laid out: Xc (G x n x 3), Yt
// (n x 3 x R_pad), x_norm (G), y_norm (R_pad).
struct RmsdMatrixScratch {
  double *Xc, *Yt, *x_norm, *y_norm;
  CK_HOST_DEVICE RmsdMatrixScratch(double* scratch, int64_t G, int64_t n, int64_t R_pad)
      : Xc(scratch), Yt(scratch + 3 * n * G), x_norm(Yt + 3 * n * R_pad), y_norm(x_norm + G) {}
};

// Centres conformer c of X (n x 3) and returns sum_i |x_i - centroid|^2. The centred atom i,
// coordinate k goes to out[i * atom_stride + k * coord_stride] (AoS: 3, 1; transposed: 3 R_pad, R_pad).
template <typename scalar_t>
CK_HOST_DEVICE inline double center_conformer(const scalar_t* X, int64_t c, int64_t n, double* out,
                                              int64_t atom_stride, int64_t coord_stride) {
  double mean[3];
  centroid(X + 3 * n * c, (const scalar_t*)nullptr, n, mean);
  double norm = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) {
      const double v = (double)X[3 * n * c + 3 * i + k] - mean[k];
      out[i * atom_stride + k * coord_stride] = v;
      norm += v * v;
    }
  return norm;
}

// S[3u+v][l] = sum_i a_iu y_iv(r0 + l): the identity's correlations of W pairs (one g).
template <int W>
CK_HOST_DEVICE CK_LANES_INLINE void identity_correlation_lanes(const double* a, const double* Yt, int64_t n,
                                                               int64_t R_pad, int64_t r0, double S[9][W]) {
  for (int c = 0; c < 9; ++c)
    CK_SIMD
    for (int l = 0; l < W; ++l) S[c][l] = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double* y = Yt + 3 * i * R_pad + r0;
    for (int u = 0; u < 3; ++u) {
      const double au = a[3 * i + u];
      for (int v = 0; v < 3; ++v)
        CK_SIMD
        for (int l = 0; l < W; ++l) S[3 * u + v][l] += au * y[v * R_pad + l];
    }
  }
}

// S = S0 + sum over atoms i that perm moves of (a_perm[i] - a_i) y_i^T; returns whether any moved.
template <int W>
CK_HOST_DEVICE CK_LANES_INLINE bool permuted_correlation_lanes(const double* a, const double* Yt, int64_t n,
                                                               int64_t R_pad, int64_t r0, const int64_t* perm,
                                                               const double S0[9][W], double S[9][W]) {
  for (int c = 0; c < 9; ++c)
    CK_SIMD
    for (int l = 0; l < W; ++l) S[c][l] = S0[c][l];
  bool moved = false;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = perm[i];
    if (j == i) continue;
    moved = true;
    const double* y = Yt + 3 * i * R_pad + r0;
    for (int u = 0; u < 3; ++u) {
      const double du = a[3 * j + u] - a[3 * i + u];
      for (int v = 0; v < 3; ++v)
        CK_SIMD
        for (int l = 0; l < W; ++l) S[3 * u + v][l] += du * y[v * R_pad + l];
    }
  }
  return moved;
}

// Entries (g, r0 .. r0 + W - 1): the minimal sum of squared deviations over the permutations and
// the row attaining it, as best_permuted_sse computes it. A permutation's solve in a lane is skipped
// when the lane's best so far already rules it out, and deferred to PendingSolves otherwise. Lanes
// at or past R are computed on the padding (copies of a real conformer: zeros would hold Newton at
// its slowest, linear rate) and not written.
template <int W, typename scalar_t>
CK_HOST_DEVICE CK_LANES_INLINE void rmsd_matrix_lanes(const double* Xc, const double* Yt, const double* x_norm,
                                                      const double* y_norm, int64_t g, int64_t r0, int64_t R,
                                                      int64_t R_pad, int64_t n, const int64_t* perms,
                                                      int64_t n_perms, scalar_t* sse, int64_t* best) {
  const double* a = Xc + 3 * n * g;
  double S0[9][W], S[9][W], E0[W], lowest[W], none[W], lambda[W], identity_value[W], c2[W], c1[W], c0[W];
  int64_t arg[W];
  identity_correlation_lanes<W>(a, Yt, n, R_pad, r0, S0);
  CK_SIMD
  for (int l = 0; l < W; ++l) {
    E0[l] = 0.5 * (x_norm[g] + y_norm[r0 + l]);
    none[l] = -1e300;
  }
  qcp_max_eigenvalue_lanes<W>(S0, E0, none, lambda);
  for (int l = 0; l < W; ++l) {
    identity_value[l] = 2.0 * (E0[l] - lambda[l]);
    lowest[l] = n_perms > 0 ? 1e300 : identity_value[l];
    arg[l] = 0;
  }
  PendingSolves<W> pending;
  pending.count = 0;
  for (int64_t k = 0; k < n_perms; ++k) {
    if (!permuted_correlation_lanes<W>(a, Yt, n, R_pad, r0, perms + k * n, S0, S)) {
      flush_solves<W>(pending, lowest, arg);  // keep each lane's permutations in order
      for (int l = 0; l < W; ++l) fold_min(lowest[l], arg[l], identity_value[l], k);
      continue;
    }
    qcp_coefficients_lanes<W>(S, c2, c1, c0);
    for (int l = 0; l < W; ++l) {
      double Sl[9];
      lane_matrix<W>(S, l, Sl);
      push_solve<W>(pending, Sl, c2[l], c1[l], c0[l], E0[l], E0[l] - 0.5 * lowest[l], l, k, lowest, arg);
    }
  }
  flush_solves<W>(pending, lowest, arg);
  for (int l = 0; l < W && r0 + l < R; ++l) {
    sse[g * R + r0 + l] = (scalar_t)(lowest[l] < 0.0 ? 0.0 : lowest[l]);
    best[g * R + r0 + l] = arg[l];
  }
}

}  // namespace ck
