// Per-element math of gather_layer_norm, shared by the CPU loops and the CUDA kernels. A row's
// columns are visited by one thread (CPU) or strided over a warp (CUDA); both call these.
#pragma once

#include "../common/macros.h"

namespace ck {

// pre_mc = sum_b w_mb table[index_mb, c]
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t gathered(const scalar_t* table, const int64_t* index_m, const scalar_t* weight_m,
                                        int64_t B, int64_t C, int64_t c) {
  scalar_t acc = 0;
  for (int64_t b = 0; b < B; ++b) acc += (weight_m ? weight_m[b] : scalar_t(1)) * table[index_m[b] * C + c];
  return acc;
}

// The output act(y), y = xhat gamma + beta, and the gradient reaching y (ReLU's mask recomputed
// from xhat, so the output need not be kept). Arithmetic selects, not branches: the sign of y is
// random, and a mispredicted branch per element made the CPU forward 5x slower.
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t normalized_output(scalar_t xhat, scalar_t gamma, scalar_t beta, scalar_t relu) {
  const scalar_t y = xhat * gamma + beta;
  const scalar_t positive = y > scalar_t(0) ? y : scalar_t(0);  // maxps / fmax
  return relu * positive + (scalar_t(1) - relu) * y;
}

template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t grad_y(scalar_t g_out, scalar_t xhat, scalar_t gamma, scalar_t beta, scalar_t relu) {
  const scalar_t y = xhat * gamma + beta;
  const scalar_t passed = y > scalar_t(0) ? g_out : scalar_t(0);
  return relu * passed + (scalar_t(1) - relu) * g_out;
}

// LayerNorm's input gradient: rstd (g - mean(g) - xhat mean(g xhat)) with g = grad_y * gamma, the two
// means given as sums over the C columns.
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t grad_pre(scalar_t g_xhat, scalar_t xhat, scalar_t sum_g, scalar_t sum_gx,
                                        scalar_t rstd, int64_t C) {
  return rstd * (g_xhat - (sum_g + xhat * sum_gx) / scalar_t(C));
}

}  // namespace ck
