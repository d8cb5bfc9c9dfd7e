// The QCP solve (qcp.h) run on W pairs at once: each function computes, in every lane l < W, what
// its scalar counterpart computes for one pair. On the CPU the lane loops are OpenMP simd loops
// that compile to vector registers (lane state in doubles, not bools, so that every statement is a
// masked vector operation); on CUDA W = 1, one thread per pair.
#pragma once

#include "qcp.h"

// Lane loops: OpenMP simd on the CPU (-fopenmp) so that they vectorize instead of unrolling.
#if defined(__CUDACC__)
#define CK_LANES_INLINE __forceinline__
#define CK_SIMD
#define CK_SIMD_ANY
#else
#define CK_LANES_INLINE __attribute__((always_inline)) inline
#define CK_SIMD _Pragma("omp simd")
#define CK_SIMD_ANY _Pragma("omp simd reduction(|:any)")  // the loop's flag `any`: some lane still runs
#endif

namespace ck {

// Pairs per lane group on the CPU: two AVX-512 registers of doubles (measured: 8 was slower, 32 spilled).
constexpr int kCpuLanes = 16;

// Column l of a lane array S[9][W] as a 3x3 matrix, and back.
template <int W>
CK_HOST_DEVICE inline void lane_matrix(const double S[9][W], int l, double out[9]) {
  for (int c = 0; c < 9; ++c) out[c] = S[c][l];
}
template <int W>
CK_HOST_DEVICE inline void set_lane_matrix(double S[9][W], int l, const double in[9]) {
  for (int c = 0; c < 9; ++c) S[c][l] = in[c];
}

// The coefficients of each lane's characteristic polynomial (qcp_coefficients).
template <int W>
CK_HOST_DEVICE CK_LANES_INLINE void qcp_coefficients_lanes(const double S[9][W], double c2[W], double c1[W],
                                                           double c0[W]) {
  CK_SIMD
  for (int l = 0; l < W; ++l)
    qcp_coefficients(S[0][l], S[1][l], S[2][l], S[3][l], S[4][l], S[5][l], S[6][l], S[7][l], S[8][l], &c2[l],
                     &c1[l], &c0[l]);
}

// The Newton part of qcp_max_eigenvalue_lanes, from the polynomial's coefficients (S is read only by
// the Jacobi fallback).
template <int W>
CK_HOST_DEVICE CK_LANES_INLINE void qcp_newton_lanes(const double c2[W], const double c1[W], const double c0[W],
                                                     const double S[9][W], const double E0[W],
                                                     const double stop_below[W], double lambda[W]) {
  double x[W], dp[W], running[W], abandoned[W];
  CK_SIMD
  for (int l = 0; l < W; ++l) {
    // Lanes whose bound already lies above every root cannot win: abandoned before any step.
    const bool below = stop_below[l] < E0[l] && qcp_above_all_roots(c2[l], c1[l], c0[l], stop_below[l]);
    x[l] = below ? -1e300 : E0[l];
    dp[l] = 0.0;
    running[l] = below ? 0.0 : 1.0;
    abandoned[l] = below ? 1.0 : 0.0;
  }
  for (int it = 0; it < 100; ++it) {
    int any = 0;
    CK_SIMD_ANY
    for (int l = 0; l < W; ++l) {
      const double xl = x[l], x2 = xl * xl;
      const double p = (x2 + c2[l]) * x2 + c1[l] * xl + c0[l];
      const double d = (4.0 * x2 + 2.0 * c2[l]) * xl + c1[l];
      const bool step_ok = running[l] != 0.0 && d > 0.0;
      const double step = step_ok ? p / d : 0.0;
      const double next = xl - step;
      dp[l] = running[l] != 0.0 ? d : dp[l];
      x[l] = next;
      const bool below = step_ok && next < stop_below[l];
      abandoned[l] = below ? 1.0 : abandoned[l];
      running[l] = (step_ok && !below && fabs(step) > 1e-15 * fabs(next) + 1e-300) ? 1.0 : 0.0;
      any |= running[l] != 0.0;
    }
    if (!any) break;
  }
  for (int l = 0; l < W; ++l) {  // scalar: the Jacobi fallback is rare and branchy
    if (abandoned[l] != 0.0) {
      lambda[l] = x[l];
      continue;
    }
    double Sl[9];
    lane_matrix<W>(S, l, Sl);
    lambda[l] = qcp_settle(Sl, x[l], dp[l], E0[l]);
  }
}

// Largest eigenvalue of K(S) in each lane: qcp_max_eigenvalue (qcp.h) run in W lanes at once.
// Newton stops per lane as the scalar version does (converged, abandoned below stop_below, or at a
// double root) and the loop ends when every lane has stopped; lanes at a (nearly) double root take
// the scalar Jacobi fallback. Lane state is kept in doubles (1 or 0), not bools, so that every
// statement of the loop is a masked vector operation.
template <int W>
CK_HOST_DEVICE CK_LANES_INLINE void qcp_max_eigenvalue_lanes(const double S[9][W], const double E0[W],
                                                             const double stop_below[W], double lambda[W]) {
  double c2[W], c1[W], c0[W];
  qcp_coefficients_lanes<W>(S, c2, c1, c0);
  qcp_newton_lanes<W>(c2, c1, c0, S, E0, stop_below, lambda);
}

// Unit quaternion of lambda in each lane: qcp_quaternion (qcp.h) on W lanes. A = K - lambda I is
// symmetric, so its adjugate is too: ten 3x3 minors give all four columns; each lane takes its
// largest column, and lanes where even that is too small to carry a direction (a repeated
// eigenvalue) take the scalar Jacobi fallback.
template <int W>
CK_HOST_DEVICE CK_LANES_INLINE void qcp_quaternion_lanes(const double S[9][W], const double lambda[W],
                                                         const double E0[W], double q[4][W]) {
  double norm[W];
  CK_SIMD
  for (int l = 0; l < W; ++l) {
    const double xx = S[0][l], xy = S[1][l], xz = S[2][l], yx = S[3][l], yy = S[4][l], yz = S[5][l];
    const double zx = S[6][l], zy = S[7][l], zz = S[8][l], lam = lambda[l];
    const double a = xx + yy + zz - lam, b = yz - zy, c = zx - xz, d = xy - yx;  // row 0 of K - lambda I
    const double e = xx - yy - zz - lam, f = xy + yx, g = zx + xz;                // row 1
    const double h = -xx + yy - zz - lam, i = yz + zy, j = -xx - yy + zz - lam;   // rows 2, 3
    const double m00 = det3(e, f, g, f, h, i, g, i, j), m01 = det3(b, f, g, c, h, i, d, i, j);
    const double m02 = det3(b, e, g, c, f, i, d, g, j), m03 = det3(b, e, f, c, f, h, d, g, i);
    const double m11 = det3(a, c, d, c, h, i, d, i, j), m12 = det3(a, b, d, c, f, i, d, g, j);
    const double m13 = det3(a, b, c, c, f, h, d, g, i), m22 = det3(a, b, d, b, e, g, d, g, j);
    const double m23 = det3(a, b, c, b, e, f, d, g, i), m33 = det3(a, b, c, b, e, f, c, f, h);
    // Adjugate columns (cofactors (-1)^(r+c) m_rc); the first largest wins, as in qcp_quaternion.
    double q0 = m00, q1 = -m01, q2 = m02, q3 = -m03;
    double best = q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3;
    const double n1 = m01 * m01 + m11 * m11 + m12 * m12 + m13 * m13;
    const bool take1 = n1 > best;
    q0 = take1 ? -m01 : q0; q1 = take1 ? m11 : q1; q2 = take1 ? -m12 : q2; q3 = take1 ? m13 : q3;
    best = take1 ? n1 : best;
    const double n2 = m02 * m02 + m12 * m12 + m22 * m22 + m23 * m23;
    const bool take2 = n2 > best;
    q0 = take2 ? m02 : q0; q1 = take2 ? -m12 : q1; q2 = take2 ? m22 : q2; q3 = take2 ? -m23 : q3;
    best = take2 ? n2 : best;
    const double n3 = m03 * m03 + m13 * m13 + m23 * m23 + m33 * m33;
    const bool take3 = n3 > best;
    q0 = take3 ? -m03 : q0; q1 = take3 ? m13 : q1; q2 = take3 ? -m23 : q2; q3 = take3 ? m33 : q3;
    best = take3 ? n3 : best;
    norm[l] = best;
    const double inv = best > 0.0 ? 1.0 / sqrt(best) : 0.0;
    q[0][l] = q0 * inv; q[1][l] = q1 * inv; q[2][l] = q2 * inv; q[3][l] = q3 * inv;
  }
  for (int l = 0; l < W; ++l) {  // scalar: rare
    if (adjugate_carries_direction(norm[l], E0[l])) continue;
    double Sl[9], K[16], ql[4];
    lane_matrix<W>(S, l, Sl);
    key_matrix(Sl, K);
    jacobi_max_eigen(K, ql);
    for (int k = 0; k < 4; ++k) q[k][l] = ql[k];
  }
}

// lowest[l], arg[l] <- value, k when value is lower (or NaN, which must surface).
CK_HOST_DEVICE inline void fold_min(double& lowest, int64_t& arg, double value, int64_t k) {
  if (value < lowest || value != value) { lowest = value; arg = k; }
}

// Permutation solves waiting for a full vector: the (lane, permutation) pairs that the root test
// (qcp_above_all_roots) could not rule out. Solving them W at a time, whatever permutation each
// came from, keeps every lane busy when most lanes of a permutation cannot win (75% on a
// 16-automorphism molecule), where one lane-synchronous Newton per permutation would not.
template <int W>
struct PendingSolves {
  double S[9][W], c2[W], c1[W], c0[W], E0[W], bound[W];
  int lane[W];
  int64_t perm[W];
  int count;
};

// Solves the pending entries and folds each into its lane's minimum, in the order they came.
template <int W>
CK_HOST_DEVICE CK_LANES_INLINE void flush_solves(PendingSolves<W>& q, double lowest[W], int64_t arg[W]) {
  if (q.count == 0) return;
  for (int i = q.count; i < W; ++i) {  // idle slots repeat entry 0 (a real polynomial), unread
    for (int c = 0; c < 9; ++c) q.S[c][i] = q.S[c][0];
    q.c2[i] = q.c2[0]; q.c1[i] = q.c1[0]; q.c0[i] = q.c0[0]; q.E0[i] = q.E0[0]; q.bound[i] = q.bound[0];
  }
  double lambda[W];
  qcp_newton_lanes<W>(q.c2, q.c1, q.c0, q.S, q.E0, q.bound, lambda);
  for (int i = 0; i < q.count; ++i) {
    const double value = 2.0 * (q.E0[i] - lambda[i]);
    fold_min(lowest[q.lane[i]], arg[q.lane[i]], value, q.perm[i]);
  }
  q.count = 0;
}

// Queues lane l's solve of permutation k (correlation Sl, E0, bound) unless the root test rules
// it out; flushes when the queue is full.
template <int W>
CK_HOST_DEVICE CK_LANES_INLINE void push_solve(PendingSolves<W>& q, const double Sl[9], double c2, double c1,
                                               double c0, double E0, double bound, int l, int64_t k,
                                               double lowest[W], int64_t arg[W]) {
  if (bound < E0 && qcp_above_all_roots(c2, c1, c0, bound)) return;  // cannot win
  const int i = q.count++;
  for (int c = 0; c < 9; ++c) q.S[c][i] = Sl[c];
  q.c2[i] = c2; q.c1[i] = c1; q.c0[i] = c0; q.E0[i] = E0; q.bound[i] = bound; q.lane[i] = l; q.perm[i] = k;
  if (q.count == W) flush_solves<W>(q, lowest, arg);
}

}  // namespace ck
