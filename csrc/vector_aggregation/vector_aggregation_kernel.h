// Per-destination math of vector_aggregation, shared by the CPU loops and the CUDA kernels.
#pragma once

#include <cmath>

#include "../common/macros.h"

namespace ck {

// Edge vector r = x_i - x_j, and its scale: 1, or 1/|r| (0 for coincident atoms) when normalized.
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t edge_vector(const scalar_t* xi, const scalar_t* xj, bool normalize,
                                           scalar_t r[3]) {
  r[0] = xi[0] - xj[0];
  r[1] = xi[1] - xj[1];
  r[2] = xi[2] - xj[2];
  if (!normalize) return scalar_t(1);
  const scalar_t d = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  return d > scalar_t(0) ? scalar_t(1) / d : scalar_t(0);
}

// out_i for one destination row.
template <typename scalar_t>
CK_HOST_DEVICE inline void aggregate_row(const scalar_t* x, const scalar_t* w, const int64_t* src,
                                         int64_t begin, int64_t end, int64_t i, bool normalize,
                                         scalar_t* out_i) {
  scalar_t acc[3] = {0, 0, 0};
  for (int64_t e = begin; e < end; ++e) {
    scalar_t r[3];
    const scalar_t s = w[e] * edge_vector(x + 3 * i, x + 3 * src[e], normalize, r);
    acc[0] += s * r[0];
    acc[1] += s * r[1];
    acc[2] += s * r[2];
  }
  out_i[0] = acc[0];
  out_i[1] = acc[1];
  out_i[2] = acc[2];
}

// Backward of one edge e = (i, j) given g = grad_out_i: writes grad_w[e] (if asked) and returns in
// gx the gradient with respect to x_i (that of x_j is -gx). With normalization u = r/d:
// d(w u)/dx_i = w (I - u u^T) / d.
template <typename scalar_t>
CK_HOST_DEVICE inline void aggregate_edge_backward(const scalar_t* xi, const scalar_t* xj, scalar_t w,
                                                   const scalar_t* g, bool normalize, scalar_t* grad_w_e,
                                                   scalar_t gx[3]) {
  scalar_t r[3];
  const scalar_t inv = edge_vector(xi, xj, normalize, r);
  const scalar_t gr = g[0] * r[0] + g[1] * r[1] + g[2] * r[2];
  if (grad_w_e) *grad_w_e = gr * inv;
  if (!normalize) {
    gx[0] = w * g[0];
    gx[1] = w * g[1];
    gx[2] = w * g[2];
    return;
  }
  // w/d (g - u <u, g>) with u = r/d: w inv (g - r gr inv^2)
  const scalar_t c = gr * inv * inv;
  gx[0] = w * inv * (g[0] - c * r[0]);
  gx[1] = w * inv * (g[1] - c * r[1]);
  gx[2] = w * inv * (g[2] - c * r[2]);
}

}  // namespace ck
