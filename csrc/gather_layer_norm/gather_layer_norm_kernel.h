// Per-element math of gather_layer_norm, shared by the CPU loops and the CUDA kernels. A row's
// columns are visited by one thread (CPU) or strided over a warp (CUDA); both call these.
#pragma once

#include <cmath>

#include "../common/macros.h"

namespace ck {

#if !defined(__CUDA_ARCH__)
using std::sqrt;  // float overloads on the host (the C function would round through double)
#endif

// pre_mc = sum_b w_mb table[index_mb, c]
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t gathered(const scalar_t* table, const int64_t* index_m, const scalar_t* weight_m,
                                        int64_t B, int64_t C, int64_t c) {
  scalar_t acc = 0;
  for (int64_t b = 0; b < B; ++b) acc += (weight_m ? weight_m[b] : scalar_t(1)) * table[index_m[b] * C + c];
  return acc;
}

// LayerNorm's statistics, the reductions' per-element terms and their finish; the reductions themselves
// are the backend's (simd sums on the CPU, warp shuffles on CUDA).
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t squared_deviation(scalar_t x, scalar_t mu) {
  return (x - mu) * (x - mu);
}

// 1 / sqrt(var + eps), var = sum_sq / C (the biased variance, as torch's LayerNorm)
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t inverse_std(scalar_t sum_sq, int64_t C, scalar_t eps) {
  return scalar_t(1) / sqrt(sum_sq / scalar_t(C) + eps);
}

template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t standardized(scalar_t x, scalar_t mu, scalar_t rstd) {
  return (x - mu) * rstd;
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

// One column's backward terms: g = grad_y gamma (summed, and summed times xhat, over the row for
// grad_pre) and the column's shares of gamma's and beta's gradients.
template <typename scalar_t>
struct ColumnGrad {
  scalar_t g, d_gamma, d_beta;
};

template <typename scalar_t>
CK_HOST_DEVICE inline ColumnGrad<scalar_t> column_grad(scalar_t g_out, scalar_t xhat, scalar_t gamma, scalar_t beta,
                                                       scalar_t relu) {
  const scalar_t gy = grad_y(g_out, xhat, gamma, beta, relu);
  return {gy * gamma, gy * xhat, gy};
}

// LayerNorm's input gradient: rstd (g - mean(g) - xhat mean(g xhat)) with g = grad_y * gamma, the two
// means given as sums over the C columns.
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t grad_pre(scalar_t g_xhat, scalar_t xhat, scalar_t sum_g, scalar_t sum_gx,
                                        scalar_t rstd, int64_t C) {
  return rstd * (g_xhat - (sum_g + xhat * sum_gx) / scalar_t(C));
}

}  // namespace ck
