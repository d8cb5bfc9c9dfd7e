// Quaternion characteristic polynomial (QCP) alignment math (Horn 1987; Theobald 2005).
//
// Input: the 3x3 correlation matrix S_ab = sum_i w_i p_ia q_ib of two centred point sets and
// E0 = (sum_i w_i |p_i|^2 + sum_i w_i |q_i|^2) / 2. The optimal rotation R (R p ~ q) is the unit
// quaternion of the largest eigenvalue lambda of Horn's traceless symmetric 4x4 key matrix K(S),
// and the minimal weighted sum of squared deviations is 2 (E0 - lambda).
//
// lambda: Newton's method on det(K - x I) = x^4 + c2 x^2 + c1 x + c0 from x = E0, an upper bound of
// lambda; the polynomial has only real roots and is convex above the largest, so the iteration
// decreases monotonically onto lambda (linearly at a double root, e.g. collinear points).
// Rotation: the largest column of adj(K - lambda I), which spans the eigenvector when lambda is
// simple. When lambda is (nearly) repeated, the adjugate vanishes and any vector of the eigenspace
// is optimal: a Jacobi eigen-decomposition of K then picks one robustly.
// Everything is in double, whatever the input dtype: it is O(1) work per pair.
#pragma once

#include <math.h>

#include "macros.h"

namespace ck {

CK_HOST_DEVICE inline void key_matrix(const double S[9], double K[16]) {
  const double xx = S[0], xy = S[1], xz = S[2];
  const double yx = S[3], yy = S[4], yz = S[5];
  const double zx = S[6], zy = S[7], zz = S[8];
  K[0] = xx + yy + zz;  K[1] = yz - zy;       K[2] = zx - xz;        K[3] = xy - yx;
  K[5] = xx - yy - zz;  K[6] = xy + yx;       K[7] = zx + xz;
  K[10] = -xx + yy - zz; K[11] = yz + zy;
  K[15] = -xx - yy + zz;
  K[4] = K[1]; K[8] = K[2]; K[12] = K[3]; K[9] = K[6]; K[13] = K[7]; K[14] = K[11];
}

CK_HOST_DEVICE inline double det3(double a, double b, double c, double d, double e, double f,
                                  double g, double h, double i) {
  return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
}

// Symmetric 4x4 eigen-decomposition by cyclic Jacobi rotations: returns the largest eigenvalue and
// (if q is given) its unit eigenvector. Accurate to rounding for repeated eigenvalues, where Newton
// on the polynomial is not; only used for those.
CK_HOST_DEVICE inline double jacobi_max_eigen(const double K[16], double* q) {
  double A[16], V[16];
  for (int k = 0; k < 16; ++k) { A[k] = K[k]; V[k] = (k % 5 == 0) ? 1.0 : 0.0; }
  for (int sweep = 0; sweep < 50; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) (r == c ? diag : off) += A[4 * r + c] * A[4 * r + c];
    if (off <= 1e-30 * diag || off == 0.0) break;
    for (int p = 0; p < 3; ++p) {
      for (int r = p + 1; r < 4; ++r) {
        const double apr = A[4 * p + r];
        if (apr == 0.0) continue;
        const double theta = (A[4 * r + r] - A[4 * p + p]) / (2.0 * apr);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
        const double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
        for (int k = 0; k < 4; ++k) {  // A <- A J (columns p, r)
          const double akp = A[4 * k + p], akr = A[4 * k + r];
          A[4 * k + p] = c * akp - s * akr;
          A[4 * k + r] = s * akp + c * akr;
        }
        for (int k = 0; k < 4; ++k) {  // A <- J^T A (rows p, r)
          const double apk = A[4 * p + k], ark = A[4 * r + k];
          A[4 * p + k] = c * apk - s * ark;
          A[4 * r + k] = s * apk + c * ark;
        }
        for (int k = 0; k < 4; ++k) {  // V <- V J
          const double vkp = V[4 * k + p], vkr = V[4 * k + r];
          V[4 * k + p] = c * vkp - s * vkr;
          V[4 * k + r] = s * vkp + c * vkr;
        }
      }
    }
  }
  int best = 0;
  for (int k = 1; k < 4; ++k)
    if (A[5 * k] > A[5 * best]) best = k;
  if (q) {
    double norm = 0.0;
    for (int k = 0; k < 4; ++k) norm += V[4 * k + best] * V[4 * k + best];
    norm = sqrt(norm);
    for (int k = 0; k < 4; ++k) q[k] = V[4 * k + best] / norm;
  }
  return A[5 * best];
}

// Coefficients of det(K(S) - x I) = x^4 + c2 x^2 + c1 x + c0 from S's nine entries (row-major),
// written on scalars alone so that it vectorizes across pairs (see rmsd_matrix_kernel.h).
CK_HOST_DEVICE inline void qcp_coefficients(double xx, double xy, double xz, double yx, double yy, double yz,
                                            double zx, double zy, double zz, double* c2, double* c1, double* c0) {
  *c2 = -2.0 * (xx * xx + xy * xy + xz * xz + yx * yx + yy * yy + yz * yz + zx * zx + zy * zy + zz * zz);
  *c1 = -8.0 * det3(xx, xy, xz, yx, yy, yz, zx, zy, zz);
  // K (key_matrix), symmetric: rows (k00 k01 k02 k03), (k01 k11 k12 k13), (k02 k12 k22 k23), (k03 k13 k23 k33).
  const double k00 = xx + yy + zz, k01 = yz - zy, k02 = zx - xz, k03 = xy - yx;
  const double k11 = xx - yy - zz, k12 = xy + yx, k13 = zx + xz;
  const double k22 = -xx + yy - zz, k23 = yz + zy, k33 = -xx - yy + zz;
  // det K by the 2x2 minors of rows 0-1 (s) and of rows 2-3 (q): Laplace expansion along row pairs.
  const double s0 = k00 * k11 - k01 * k01, s1 = k00 * k12 - k02 * k01, s2 = k00 * k13 - k03 * k01;
  const double s3 = k01 * k12 - k02 * k11, s4 = k01 * k13 - k03 * k11, s5 = k02 * k13 - k03 * k12;
  const double q5 = k22 * k33 - k23 * k23, q4 = k12 * k33 - k23 * k13, q3 = k12 * k23 - k22 * k13;
  const double q2 = k02 * k33 - k23 * k03, q1 = k02 * k23 - k22 * k03, q0 = k02 * k13 - k12 * k03;
  *c0 = s0 * q5 - s1 * q4 + s2 * q3 + s3 * q2 - s4 * q1 + s5 * q0;
}

// True when b lies above every root of x^4 + c2 x^2 + c1 x + c0: the polynomial and its three
// derivatives are all positive at b (Budan-Fourier: no sign change, no root above b). Decides in a
// few flops, with no Newton step, that a permutation's eigenvalue is below a bound.
CK_HOST_DEVICE inline bool qcp_above_all_roots(double c2, double c1, double c0, double b) {
  const double b2 = b * b;
  return b > 0.0 && 12.0 * b2 + 2.0 * c2 > 0.0 && (4.0 * b2 + 2.0 * c2) * b + c1 > 0.0 &&
         (b2 + c2) * b2 + c1 * b + c0 > 0.0;
}

// lambda from Newton's last iterate x and derivative dp there. P'(lambda) is the product of the gaps
// to the other eigenvalues: when the largest is (nearly) repeated (collinear points, 1-2 atoms),
// the polynomial pins it only to sqrt(rounding), so Jacobi, which resolves it to rounding, is used.
CK_HOST_DEVICE inline double qcp_settle(const double S[9], double x, double dp, double E0) {
  if (!(dp > 1e-6 * E0 * E0 * E0)) {
    double K[16];
    key_matrix(S, K);
    return E0 > 0.0 ? fmin(jacobi_max_eigen(K, nullptr), E0) : 0.0;
  }
  return fmin(x, E0);  // lambda lies in [-E0, E0]; rounding can push it a hair outside
}

// Largest eigenvalue of K(S) by Newton on the characteristic polynomial, starting at E0.
// Every iterate is an upper bound of lambda, so once one falls below stop_below the answer is known
// to be below it too and the iterate is returned as is: a minimum over permutations uses this to
// abandon a permutation as soon as it cannot beat the best so far. When stop_below already lies
// above every root (qcp_above_all_roots), no Newton step is taken and -1e300 is returned.
CK_HOST_DEVICE inline double qcp_max_eigenvalue(const double S[9], double E0, double stop_below = -1e300) {
  double c2, c1, c0;
  qcp_coefficients(S[0], S[1], S[2], S[3], S[4], S[5], S[6], S[7], S[8], &c2, &c1, &c0);
  if (stop_below < E0 && qcp_above_all_roots(c2, c1, c0, stop_below)) return -1e300;  // lambda < stop_below
  double x = E0, dp = 0.0;
  for (int it = 0; it < 100; ++it) {
    const double x2 = x * x;
    const double p = (x2 + c2) * x2 + c1 * x + c0;
    dp = (4.0 * x2 + 2.0 * c2) * x + c1;
    if (!(dp > 0.0)) break;  // at (or numerically below) a double root
    const double step = p / dp;
    x -= step;
    if (x < stop_below) return x;
    if (fabs(step) <= 1e-15 * fabs(x) + 1e-300) break;
  }
  return qcp_settle(S, x, dp, E0);
}

// Whether an adjugate column of squared norm norm_sq carries a direction: the adjugate scales like
// (gap * E0^2); below ~1e-9 relative gap its direction is noise (NaN: no).
CK_HOST_DEVICE inline bool adjugate_carries_direction(double norm_sq, double E0) {
  const double scale = E0 > 0.0 ? E0 : 0.0;
  return sqrt(norm_sq) > 1e-9 * scale * scale * scale;
}

// Unit quaternion of the eigenvalue lambda of K(S): the largest column of adj(K - lambda I),
// falling back to Jacobi when that column is too small to carry a direction.
CK_HOST_DEVICE inline void qcp_quaternion(const double S[9], double lambda, double E0, double q[4]) {
  double A[16];
  key_matrix(S, A);
  for (int k = 0; k < 4; ++k) A[5 * k] -= lambda;
  // Column j of the adjugate: cofactors C_ij = (-1)^(i+j) M_ij, M_ij the minor without row i, col j.
  double best_norm = -1.0, best[4] = {1.0, 0.0, 0.0, 0.0};
  for (int j = 0; j < 4; ++j) {
    double col[4], norm = 0.0;
    for (int i = 0; i < 4; ++i) {
      double m[9];
      int idx = 0;
      for (int r = 0; r < 4; ++r) {
        if (r == i) continue;
        for (int c = 0; c < 4; ++c)
          if (c != j) m[idx++] = A[4 * r + c];
      }
      const double minor = det3(m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]);
      col[i] = ((i + j) % 2 ? -minor : minor);
      norm += col[i] * col[i];
    }
    if (norm > best_norm) {
      best_norm = norm;
      for (int i = 0; i < 4; ++i) best[i] = col[i];
    }
  }
  if (!adjugate_carries_direction(best_norm, E0)) {
    double K[16];
    key_matrix(S, K);
    jacobi_max_eigen(K, q);
    return;
  }
  const double inv = 1.0 / sqrt(best_norm);
  for (int i = 0; i < 4; ++i) q[i] = best[i] * inv;
}

// Row-major rotation matrix of the unit quaternion (w, x, y, z).
CK_HOST_DEVICE inline void quaternion_to_rotation(const double q[4], double R[9]) {
  const double w = q[0], x = q[1], y = q[2], z = q[3];
  R[0] = w * w + x * x - y * y - z * z; R[1] = 2 * (x * y - w * z);         R[2] = 2 * (x * z + w * y);
  R[3] = 2 * (x * y + w * z);         R[4] = w * w - x * x + y * y - z * z; R[5] = 2 * (y * z - w * x);
  R[6] = 2 * (x * z - w * y);         R[7] = 2 * (y * z + w * x);         R[8] = w * w - x * x - y * y + z * z;
}

}  // namespace ck
