#include <algorithm>
#include <cmath>
#include <vector>

#include "gather_layer_norm.h"
#include "gather_layer_norm_kernel.h"
#include "../common/omp_threads.h"

namespace ck {

namespace {

// row += w * t over C columns; restrict lets the compiler vectorize it.
template <typename scalar_t>
inline void add_scaled(scalar_t* __restrict__ row, const scalar_t* __restrict__ t, scalar_t w, int64_t C) {
  for (int64_t c = 0; c < C; ++c) row[c] += w * t[c];
}

// row <- act((row - mu) inv gamma + beta); restrict, so that it vectorizes.
template <typename scalar_t>
inline void normalize_row(scalar_t* __restrict__ row, const scalar_t* __restrict__ gamma,
                          const scalar_t* __restrict__ beta, scalar_t mu, scalar_t inv, scalar_t relu, int64_t C) {
  for (int64_t c = 0; c < C; ++c) row[c] = normalized_output(standardized(row[c], mu, inv), gamma[c], beta[c], relu);
}

// pre_m into row (C), returns its mean and 1/std.
template <typename scalar_t>
void gather_row(const scalar_t* table, const int64_t* index, const scalar_t* weight, int64_t m, int64_t B,
                int64_t C, scalar_t eps, scalar_t* row, scalar_t* mean, scalar_t* rstd) {
  std::fill(row, row + C, scalar_t(0));
  for (int64_t b = 0; b < B; ++b) {  // row-major accumulation: each table row is read contiguously
    const scalar_t w = weight ? weight[m * B + b] : scalar_t(1);
    add_scaled(row, table + index[m * B + b] * C, w, C);
  }
  scalar_t mu = 0, var = 0;  // simd reductions: C-long sums would otherwise run one add at a time
#pragma omp simd reduction(+ : mu)
  for (int64_t c = 0; c < C; ++c) mu += row[c];
  mu /= scalar_t(C);
#pragma omp simd reduction(+ : var)
  for (int64_t c = 0; c < C; ++c) var += squared_deviation(row[c], mu);
  *mean = mu;
  *rstd = inverse_std(var, C, eps);
}

}  // namespace

template <typename scalar_t>
void gather_layer_norm_forward_cpu(const scalar_t* table, const int64_t* index, const scalar_t* weight,
                                   const scalar_t* gamma, const scalar_t* beta, int64_t M, int64_t B, int64_t C,
                                   scalar_t eps, bool relu, scalar_t* out, scalar_t* mean, scalar_t* rstd) {
#pragma omp parallel for schedule(static) if (M * C > 65536)
  for (int64_t m = 0; m < M; ++m) {
    scalar_t* row = out + m * C;  // pre_m is built in place, then normalized
    gather_row(table, index, weight, m, B, C, eps, row, mean + m, rstd + m);
    normalize_row(row, gamma, beta, mean[m], rstd[m], scalar_t(relu), C);
  }
}

template <typename scalar_t>
void gather_layer_norm_backward_cpu(const scalar_t* table, const int64_t* index, const scalar_t* weight,
                                    const scalar_t* gamma, const scalar_t* beta, const scalar_t* mean,
                                    const scalar_t* rstd, const scalar_t* grad_out, int64_t M, int64_t B, int64_t C,
                                    bool relu, scalar_t* grad_pre_out, scalar_t* grad_weight, scalar_t* grad_gamma,
                                    scalar_t* grad_beta) {
  if (grad_gamma) std::fill(grad_gamma, grad_gamma + C, scalar_t(0));
  if (grad_beta) std::fill(grad_beta, grad_beta + C, scalar_t(0));
  const bool parallel = M * C > 65536;
  // per-thread sums of gamma's and beta's gradients, added in thread order after the loop (static
  // rows): the same result on every run with one thread count
  std::vector<std::vector<scalar_t>> partial_gamma(parallel ? omp_max_threads() : 1), partial_beta(partial_gamma.size());
#pragma omp parallel if (parallel)
  {
    std::vector<scalar_t> xhat(C), g(C);
    std::vector<scalar_t>& own_gamma = partial_gamma[omp_thread_id()];
    std::vector<scalar_t>& own_beta = partial_beta[omp_thread_id()];
    own_gamma.assign(C, scalar_t(0));
    own_beta.assign(C, scalar_t(0));
#pragma omp for schedule(static)
    for (int64_t m = 0; m < M; ++m) {
      std::fill(xhat.begin(), xhat.end(), scalar_t(0));
      for (int64_t b = 0; b < B; ++b) {
        add_scaled(xhat.data(), table + index[m * B + b] * C, weight ? weight[m * B + b] : scalar_t(1), C);
      }
      scalar_t sum_g = 0, sum_gx = 0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
      for (int64_t c = 0; c < C; ++c) {
        xhat[c] = standardized(xhat[c], mean[m], rstd[m]);
        const ColumnGrad<scalar_t> col = column_grad(grad_out[m * C + c], xhat[c], gamma[c], beta[c], scalar_t(relu));
        own_gamma[c] += col.d_gamma;
        own_beta[c] += col.d_beta;
        g[c] = col.g;
        sum_g += g[c];
        sum_gx += g[c] * xhat[c];
      }
      scalar_t* gp = grad_pre_out + m * C;
      for (int64_t c = 0; c < C; ++c) gp[c] = grad_pre(g[c], xhat[c], sum_g, sum_gx, rstd[m], C);
      if (!grad_weight) continue;
      for (int64_t b = 0; b < B; ++b) {
        const scalar_t* t = table + index[m * B + b] * C;
        scalar_t dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t c = 0; c < C; ++c) dot += gp[c] * t[c];
        grad_weight[m * B + b] = dot;
      }
    }
  }
  for (size_t t = 0; t < partial_gamma.size(); ++t) {
    for (size_t c = 0; c < partial_gamma[t].size(); ++c) {
      if (grad_gamma) grad_gamma[c] += partial_gamma[t][c];
      if (grad_beta) grad_beta[c] += partial_beta[t][c];
    }
  }
}

template <typename scalar_t>
void gather_table_backward_cpu(const scalar_t* grad_pre, const scalar_t* weight, const int64_t* entry_ptr,
                               const int64_t* entries, int64_t R, int64_t B, int64_t C, scalar_t* grad_table) {
#pragma omp parallel for schedule(dynamic, 4) if (R * C > 65536)
  for (int64_t r = 0; r < R; ++r) {
    scalar_t* row = grad_table + r * C;
    std::fill(row, row + C, scalar_t(0));
    for (int64_t p = entry_ptr[r]; p < entry_ptr[r + 1]; ++p) {
      const int64_t e = entries[p];
      add_scaled(row, grad_pre + (e / B) * C, weight ? weight[e] : scalar_t(1), C);
    }
  }
}

#define CK_INSTANTIATE(T)                                                                                        \
  template void gather_layer_norm_forward_cpu<T>(const T*, const int64_t*, const T*, const T*, const T*, int64_t, \
                                                 int64_t, int64_t, T, bool, T*, T*, T*);                         \
  template void gather_layer_norm_backward_cpu<T>(const T*, const int64_t*, const T*, const T*, const T*,         \
                                                  const T*, const T*, const T*, int64_t, int64_t, int64_t, bool, \
                                                  T*, T*, T*, T*);                                               \
  template void gather_table_backward_cpu<T>(const T*, const T*, const int64_t*, const int64_t*, int64_t,         \
                                             int64_t, int64_t, T*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
