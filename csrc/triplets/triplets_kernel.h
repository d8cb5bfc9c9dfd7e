// Per-triplet math of the three-atom terms, shared by the CPU loops and the CUDA kernels.
#pragma once

#include <cmath>

#include "../common/macros.h"

namespace ck {

template <typename scalar_t>
CK_HOST_DEVICE inline void triplet_vectors(const scalar_t* x, int64_t i, int64_t j, int64_t k, scalar_t rj[3],
                                           scalar_t rk[3]) {
  for (int c = 0; c < 3; ++c) {
    rj[c] = x[3 * i + c] - x[3 * j + c];
    rk[c] = x[3 * i + c] - x[3 * k + c];
  }
}

template <typename scalar_t>
CK_HOST_DEVICE inline void triplet_geometry_one(const scalar_t* x, int64_t i, int64_t j, int64_t k, scalar_t* d_ij,
                                                scalar_t* d_ik, scalar_t* dot) {
  scalar_t rj[3], rk[3];
  triplet_vectors(x, i, j, k, rj, rk);
  *d_ij = sqrt(rj[0] * rj[0] + rj[1] * rj[1] + rj[2] * rj[2]);
  *d_ik = sqrt(rk[0] * rk[0] + rk[1] * rk[1] + rk[2] * rk[2]);
  *dot = rj[0] * rk[0] + rj[1] * rk[1] + rj[2] * rk[2];
}

// Gradients of g_dij d_ij + g_dik d_ik + g_dot <r_ij, r_ik> with respect to r_ij and r_ik
// (x_i receives both, x_j minus the first, x_k minus the second). 0 at coincident atoms.
template <typename scalar_t>
CK_HOST_DEVICE inline void triplet_geometry_grad(const scalar_t* x, int64_t i, int64_t j, int64_t k, scalar_t g_dij,
                                                 scalar_t g_dik, scalar_t g_dot, scalar_t grj[3], scalar_t grk[3]) {
  scalar_t rj[3], rk[3];
  triplet_vectors(x, i, j, k, rj, rk);
  const scalar_t dj = sqrt(rj[0] * rj[0] + rj[1] * rj[1] + rj[2] * rj[2]);
  const scalar_t dk = sqrt(rk[0] * rk[0] + rk[1] * rk[1] + rk[2] * rk[2]);
  const scalar_t sj = dj > scalar_t(0) ? g_dij / dj : scalar_t(0), sk = dk > scalar_t(0) ? g_dik / dk : scalar_t(0);
  for (int c = 0; c < 3; ++c) {
    grj[c] = sj * rj[c] + g_dot * rk[c];
    grk[c] = sk * rk[c] + g_dot * rj[c];
  }
}

// out_i of the aggregation for one destination row [begin, end).
template <typename scalar_t>
CK_HOST_DEVICE inline void triplet_aggregate_row(const scalar_t* x, const int64_t* j, const int64_t* k,
                                                 const scalar_t* f, const scalar_t* g, int64_t begin, int64_t end,
                                                 int64_t i, scalar_t* out_i) {
  scalar_t acc[3] = {0, 0, 0};
  for (int64_t t = begin; t < end; ++t) {
    scalar_t rj[3], rk[3];
    triplet_vectors(x, i, j[t], k[t], rj, rk);
    for (int c = 0; c < 3; ++c) acc[c] += f[t] * rj[c] + g[t] * rk[c];
  }
  for (int c = 0; c < 3; ++c) out_i[c] = acc[c];
}

// Backward of one triplet t = (i, j, k) given go = grad_out_i: writes grad_f[t] and grad_g[t] (if
// asked) and the gradients with respect to r_ij and r_ik in grj, grk (see triplet_geometry_grad).
template <typename scalar_t>
CK_HOST_DEVICE inline void triplet_aggregate_grad(const scalar_t* x, int64_t i, int64_t j, int64_t k, scalar_t f,
                                                  scalar_t g, const scalar_t* go, scalar_t* grad_f, scalar_t* grad_g,
                                                  scalar_t grj[3], scalar_t grk[3]) {
  scalar_t rj[3], rk[3];
  triplet_vectors(x, i, j, k, rj, rk);
  if (grad_f) *grad_f = go[0] * rj[0] + go[1] * rj[1] + go[2] * rj[2];
  if (grad_g) *grad_g = go[0] * rk[0] + go[1] * rk[1] + go[2] * rk[2];
  for (int c = 0; c < 3; ++c) {
    grj[c] = f * go[c];
    grk[c] = g * go[c];
  }
}

}  // namespace ck
