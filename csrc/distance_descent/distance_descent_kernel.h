// Per-atom math of distance_descent, shared by the CPU loops and the CUDA kernels: one atom's new
// position (forward) and one atom's new adjoint plus its edges' d-gradients (backward).
#pragma once

#include <cmath>

#include "../common/macros.h"

namespace ck {

// Unit vector n and length s of x_i - x_j (n = 0 when the atoms coincide).
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t unit_edge(const scalar_t* x, int64_t i, int64_t j, scalar_t n[3]) {
  scalar_t s2 = 0;
  for (int k = 0; k < 3; ++k) {
    n[k] = x[3 * i + k] - x[3 * j + k];
    s2 += n[k] * n[k];
  }
  const scalar_t s = sqrt(s2);
  const scalar_t inv = s > scalar_t(0) ? scalar_t(1) / s : scalar_t(0);
  for (int k = 0; k < 3; ++k) n[k] *= inv;
  return s;
}

// x_{t+1, i} = x_{t, i} - lr sum_{e = (i, j)} 2 (s_e - d_e) n_e
template <typename scalar_t>
CK_HOST_DEVICE inline void descent_atom(const scalar_t* x, const scalar_t* d, const int64_t* row_ptr,
                                        const int64_t* src, int64_t i, scalar_t lr, scalar_t* x_next) {
  scalar_t g[3] = {0, 0, 0}, n[3];
  for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
    const scalar_t s = unit_edge(x, i, src[e], n);
    const scalar_t w = scalar_t(2) * (s - d[e]) * (s > scalar_t(0) ? scalar_t(1) : scalar_t(0));
    for (int k = 0; k < 3; ++k) g[k] += w * n[k];
  }
  for (int k = 0; k < 3; ++k) x_next[3 * i + k] = x[3 * i + k] - lr * g[k];
}

// out += sign M_e v, M_e = 2 [n n^T + c (I - n n^T)], c = (s - d) / s
template <typename scalar_t>
CK_HOST_DEVICE inline void add_hessian_product(const scalar_t n[3], scalar_t s, scalar_t d, const scalar_t* v,
                                               scalar_t sign, scalar_t out[3]) {
  if (!(s > scalar_t(0))) return;
  const scalar_t nv = n[0] * v[0] + n[1] * v[1] + n[2] * v[2], c = (s - d) / s;
  for (int k = 0; k < 3; ++k) out[k] += sign * scalar_t(2) * (n[k] * nv + c * (v[k] - n[k] * nv));
}

// The adjoint step at atom k: lambda_t,k = lambda_k - lr [sum_{e=(k,v)} M_e lambda_k
// - sum_{e=(w,k)} M_e lambda_w], and grad_d_e += 2 lr n_e . lambda_k for its own edges e = (k, v).
template <typename scalar_t>
CK_HOST_DEVICE inline void adjoint_atom(const scalar_t* x, const scalar_t* d, const int64_t* row_ptr,
                                        const int64_t* src, const int64_t* dst, const int64_t* col_ptr,
                                        const int64_t* col_edges, int64_t k, scalar_t lr, const scalar_t* lambda,
                                        scalar_t* lambda_out, scalar_t* grad_d) {
  scalar_t acc[3] = {0, 0, 0}, n[3];
  const scalar_t* own = lambda + 3 * k;
  for (int64_t e = row_ptr[k]; e < row_ptr[k + 1]; ++e) {
    const scalar_t s = unit_edge(x, k, src[e], n);
    add_hessian_product(n, s, d[e], own, scalar_t(1), acc);
    grad_d[e] += scalar_t(2) * lr * (n[0] * own[0] + n[1] * own[1] + n[2] * own[2]);
  }
  for (int64_t p = col_ptr[k]; p < col_ptr[k + 1]; ++p) {  // edges e = (w, k) arriving from k's side
    const int64_t e = col_edges[p], w = dst[e];
    const scalar_t s = unit_edge(x, w, k, n);
    add_hessian_product(n, s, d[e], lambda + 3 * w, scalar_t(-1), acc);
  }
  for (int c = 0; c < 3; ++c) lambda_out[3 * k + c] = own[c] - lr * acc[c];
}

}  // namespace ck
