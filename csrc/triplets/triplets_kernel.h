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

}  // namespace ck
