// Per-pair and per-atom math of optimal superposition, shared by the CPU loops and CUDA kernels.
#pragma once

#include "../common/macros.h"
#include "../common/qcp.h"
#include "../common/qcp_lanes.h"

namespace ck {

// Weighted centroid of the n points x[0..n) (row-major n x 3; w null = unit weights); returns the
// weight sum. A set of zero total weight gets the origin.
template <typename scalar_t>
CK_HOST_DEVICE inline double centroid(const scalar_t* x, const scalar_t* w, int64_t n, double c[3]) {
  double wsum = 0.0;
  c[0] = c[1] = c[2] = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double wi = w ? (double)w[i] : 1.0;
    wsum += wi;
    for (int k = 0; k < 3; ++k) c[k] += wi * (double)x[3 * i + k];
  }
  const double inv = wsum > 0.0 ? 1.0 / wsum : 0.0;
  for (int k = 0; k < 3; ++k) c[k] *= inv;
  return wsum;
}

// Correlation matrix S and E0 of the points centred on pc and qc (see qcp.h).
template <typename scalar_t>
CK_HOST_DEVICE inline void pair_correlation(const scalar_t* p, const scalar_t* q, const scalar_t* w,
                                            int64_t n, const double pc[3], const double qc[3],
                                            double S[9], double* E0) {
  for (int k = 0; k < 9; ++k) S[k] = 0.0;
  double g = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double wi = w ? (double)w[i] : 1.0;
    const double a[3] = {(double)p[3 * i] - pc[0], (double)p[3 * i + 1] - pc[1], (double)p[3 * i + 2] - pc[2]};
    const double b[3] = {(double)q[3 * i] - qc[0], (double)q[3 * i + 1] - qc[1], (double)q[3 * i + 2] - qc[2]};
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) S[3 * r + c] += wi * a[r] * b[c];
    g += wi * (a[0] * a[0] + a[1] * a[1] + a[2] * a[2] + b[0] * b[0] + b[1] * b[1] + b[2] * b[2]);
  }
  *E0 = 0.5 * g;
}

// sum_i w_i |R (p_i - pc) - (q_i - qc)|^2 for a given rotation, accumulated in double.
template <typename scalar_t>
CK_HOST_DEVICE inline double aligned_residual_sse(const scalar_t* p, const scalar_t* q, const scalar_t* w,
                                                  int64_t n, const double R[9], const double pc[3],
                                                  const double qc[3]) {
  double sse = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double a[3] = {(double)p[3 * i] - pc[0], (double)p[3 * i + 1] - pc[1], (double)p[3 * i + 2] - pc[2]};
    double e2 = 0.0;
    for (int r = 0; r < 3; ++r) {
      const double e = R[3 * r] * a[0] + R[3 * r + 1] * a[1] + R[3 * r + 2] * a[2] - ((double)q[3 * i + r] - qc[r]);
      e2 += e * e;
    }
    sse += (w ? (double)w[i] : 1.0) * e2;
  }
  return sse;
}

// Rotation, centroids and sse of one pair from its centred correlation (the accurate path).
template <typename scalar_t>
CK_HOST_DEVICE inline double kabsch_pair_centred(const scalar_t* p, const scalar_t* q, const scalar_t* w,
                                                 int64_t n, double R[9], double pc[3], double qc[3]) {
  double S[9], E0, q4[4];
  centroid(p, w, n, pc);
  centroid(q, w, n, qc);
  pair_correlation(p, q, w, n, pc, qc, S, &E0);
  qcp_quaternion(S, qcp_max_eigenvalue(S, E0), E0, q4);
  quaternion_to_rotation(q4, R);
  return aligned_residual_sse(p, q, w, n, R, pc, qc);
}

// Sums of one pass over a pair: W = sum w, sp = sum w p, sq = sum w q, S = sum w p q^T and the
// per-coordinate second moments sum w p_u^2, sum w q_u^2. Every sum has its own accumulator, so
// each atom adds one term to each (no dependency chain longer than one FMA per atom), and the
// unweighted loop multiplies by no weight.
#if defined(__CUDACC__)
template <bool Weighted, typename scalar_t>
CK_HOST_DEVICE CK_LANES_INLINE void moment_sums(const scalar_t* p, const scalar_t* q, const scalar_t* w, int64_t n,
                                                double* W, double sp[3], double sq[3], double S[9], double pp[3],
                                                double qq[3]) {
  double sw = 0.0;
  for (int u = 0; u < 3; ++u) sp[u] = sq[u] = pp[u] = qq[u] = 0.0;
  for (int k = 0; k < 9; ++k) S[k] = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double a[3] = {(double)p[3 * i], (double)p[3 * i + 1], (double)p[3 * i + 2]};
    const double b[3] = {(double)q[3 * i], (double)q[3 * i + 1], (double)q[3 * i + 2]};
    const double wi = Weighted ? (double)w[i] : 1.0;
    sw += wi;
    for (int u = 0; u < 3; ++u) {
      const double wa = Weighted ? wi * a[u] : a[u], wb = Weighted ? wi * b[u] : b[u];
      sp[u] += wa;
      sq[u] += wb;
      pp[u] += wa * a[u];
      qq[u] += wb * b[u];
      for (int v = 0; v < 3; ++v) S[3 * u + v] += wa * b[v];
    }
  }
  *W = sw;
}
#else
// CPU: an atom's (x, y, z) is one 4-wide vector (4th lane 0), so a point takes 2 vector adds, 2
// FMAs and 3 broadcast FMAs (the rows of S). Without this GCC vectorizes the scalar loop across
// atoms with in-order reductions, which is slower than no vectorization.
typedef double ck_point4 __attribute__((vector_size(32)));

template <bool Weighted, typename scalar_t>
CK_LANES_INLINE void moment_sums(const scalar_t* p, const scalar_t* q, const scalar_t* w, int64_t n, double* W,
                                 double sp[3], double sq[3], double S[9], double pp[3], double qq[3]) {
  ck_point4 sum_p = {}, sum_q = {}, sum_pp = {}, sum_qq = {}, row0 = {}, row1 = {}, row2 = {};
  double sw = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const scalar_t *x = p + 3 * i, *y = q + 3 * i;
    const ck_point4 a = {(double)x[0], (double)x[1], (double)x[2], 0.0}, b = {(double)y[0], (double)y[1], (double)y[2], 0.0};
    const double wi = Weighted ? (double)w[i] : 1.0;
    const ck_point4 wa = Weighted ? wi * a : a, wb = Weighted ? wi * b : b;
    sw += wi;
    sum_p += wa;
    sum_q += wb;
    sum_pp += wa * a;
    sum_qq += wb * b;
    row0 += wa[0] * b;
    row1 += wa[1] * b;
    row2 += wa[2] * b;
  }
  for (int u = 0; u < 3; ++u) {
    sp[u] = sum_p[u];
    sq[u] = sum_q[u];
    pp[u] = sum_pp[u];
    qq[u] = sum_qq[u];
    S[u] = row0[u];
    S[3 + u] = row1[u];
    S[6 + u] = row2[u];
  }
  *W = sw;
}
#endif

// One pass of raw moments of a pair: S = sum w p q^T - W pc qc^T, E0 (clamped at 0), the centroids
// and raw = sum w (|p|^2 + |q|^2), against which the cancellation of this fast path is judged.
template <typename scalar_t>
CK_HOST_DEVICE CK_LANES_INLINE void raw_moments(const scalar_t* p, const scalar_t* q, const scalar_t* w, int64_t n,
                                       double S[9], double* E0, double pc[3], double qc[3], double* raw) {
  double W, sp[3], sq[3], pp[3], qq[3];
  if (w)
    moment_sums<true>(p, q, w, n, &W, sp, sq, S, pp, qq);
  else
    moment_sums<false>(p, q, w, n, &W, sp, sq, S, pp, qq);
  const double r = pp[0] + pp[1] + pp[2] + qq[0] + qq[1] + qq[2];
  const double inv = W > 0.0 ? 1.0 / W : 0.0;
  for (int u = 0; u < 3; ++u) { pc[u] = sp[u] * inv; qc[u] = sq[u] * inv; }
  for (int u = 0; u < 3; ++u)
    for (int v = 0; v < 3; ++v) S[3 * u + v] -= W * pc[u] * qc[v];
  const double e = 0.5 * (r - W * (pc[0] * pc[0] + pc[1] * pc[1] + pc[2] * pc[2] + qc[0] * qc[0] + qc[1] * qc[1] + qc[2] * qc[2]));
  *E0 = e > 0.0 ? e : 0.0;
  *raw = r;
}

template <typename scalar_t>
CK_HOST_DEVICE inline void store_superposition(const double R[9], const double pc[3], const double qc[3], double sse,
                                               scalar_t* R_out, scalar_t* pc_out, scalar_t* qc_out, scalar_t* sse_out) {
  for (int k = 0; k < 9; ++k) R_out[k] = (scalar_t)R[k];
  for (int k = 0; k < 3; ++k) { pc_out[k] = (scalar_t)pc[k]; qc_out[k] = (scalar_t)qc[k]; }
  *sse_out = (scalar_t)(sse < 0.0 ? 0.0 : sse);  // NaN passes: callers report it
}

// Optimal superposition of one pair: rotation R (row-major, R p ~ q), centroids, and the
// minimal weighted sum of squared deviations sum_i w_i |R (p_i - pc) - (q_i - qc)|^2.
// Fast path: one pass of raw moments and sse = 2 (E0 - lambda). Both cancel: when sse is below
// 1e-6 of the raw second moments (near-exact fits, or points far from the origin), the pair is
// redone on centred coordinates with sse from the residuals.
template <typename scalar_t>
CK_HOST_DEVICE inline void kabsch_pair(const scalar_t* p, const scalar_t* q, const scalar_t* w,
                                       int64_t n, scalar_t* R_out, scalar_t* pc_out,
                                       scalar_t* qc_out, scalar_t* sse_out) {
  double S[9], E0, pc[3], qc[3], raw, R[9], q4[4];
  raw_moments(p, q, w, n, S, &E0, pc, qc, &raw);
  const double lambda = qcp_max_eigenvalue(S, E0);
  double sse = 2.0 * (E0 - lambda);
  if (sse > 1e-6 * raw) {
    qcp_quaternion(S, lambda, E0, q4);
    quaternion_to_rotation(q4, R);
  } else {
    sse = kabsch_pair_centred(p, q, w, n, R, pc, qc);
  }
  store_superposition(R, pc, qc, sse, R_out, pc_out, qc_out, sse_out);
}

// Pairs b0 .. b0 + W - 1 of a ragged batch (atoms ptr[b] .. ptr[b + 1]): kabsch_pair with the
// eigenvalue and quaternion solved in W lanes at once (qcp_lanes.h); the moments stay per pair.
template <int W, typename scalar_t>
CK_LANES_INLINE void kabsch_lanes(const scalar_t* P, const scalar_t* Q, const scalar_t* w, const int64_t* ptr,
                                  int64_t b0, scalar_t* R_out, scalar_t* pc_out, scalar_t* qc_out, scalar_t* sse_out) {
  double S[9][W], E0[W], pc[W][3], qc[W][3], raw[W], lambda[W], q4[4][W], never[W];
  for (int l = 0; l < W; ++l) {
    const int64_t start = ptr[b0 + l];
    double Sl[9];
    raw_moments(P + 3 * start, Q + 3 * start, w ? w + start : nullptr, ptr[b0 + l + 1] - start, Sl, &E0[l], pc[l],
                qc[l], &raw[l]);
    set_lane_matrix<W>(S, l, Sl);
    never[l] = -1e300;
  }
  qcp_max_eigenvalue_lanes<W>(S, E0, never, lambda);
  qcp_quaternion_lanes<W>(S, lambda, E0, q4);
  for (int l = 0; l < W; ++l) {
    const int64_t b = b0 + l, start = ptr[b];
    double R[9], sse = 2.0 * (E0[l] - lambda[l]);
    if (sse > 1e-6 * raw[l]) {
      const double ql[4] = {q4[0][l], q4[1][l], q4[2][l], q4[3][l]};
      quaternion_to_rotation(ql, R);
    } else {
      sse = kabsch_pair_centred(P + 3 * start, Q + 3 * start, w ? w + start : nullptr, ptr[b + 1] - start, R, pc[l],
                                qc[l]);
    }
    store_superposition(R, pc[l], qc[l], sse, R_out + 9 * b, pc_out + 3 * b, qc_out + 3 * b, sse_out + b);
  }
}

// Gradient of g * sum_i w_i |R (p_i - pc) - (q_i - qc)|^2 with R held at its optimum, for one atom.
// The centroid terms vanish because the weighted residuals sum to zero at the optimum.
template <typename scalar_t>
CK_HOST_DEVICE inline void aligned_sse_backward_atom(const scalar_t* p, const scalar_t* q, scalar_t w,
                                                     const scalar_t* R, const scalar_t* pc,
                                                     const scalar_t* qc, scalar_t g,
                                                     scalar_t* grad_p, scalar_t* grad_q) {
  scalar_t a[3], e[3];
  for (int k = 0; k < 3; ++k) a[k] = p[k] - pc[k];
  for (int r = 0; r < 3; ++r)
    e[r] = R[3 * r] * a[0] + R[3 * r + 1] * a[1] + R[3 * r + 2] * a[2] - (q[r] - qc[r]);
  const scalar_t s = 2 * w * g;
  for (int c = 0; c < 3; ++c) {
    if (grad_p) grad_p[c] = s * (R[c] * e[0] + R[3 + c] * e[1] + R[6 + c] * e[2]);
    if (grad_q) grad_q[c] = -s * e[c];
  }
}

// Index of the segment of ptr[0..B] holding atom i (ptr[b] <= i < ptr[b + 1]).
CK_HOST_DEVICE inline int64_t segment_of(const int64_t* ptr, int64_t B, int64_t i) {
  int64_t lo = 0, hi = B;
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (ptr[mid] <= i) lo = mid; else hi = mid;
  }
  return lo;
}

}  // namespace ck
