#include <cuda_runtime.h>

#include "gather_layer_norm.h"
#include "gather_layer_norm_kernel.h"

namespace ck {
namespace {

constexpr int kWarps = 4;  // rows per block at a time: one warp per row, lanes stride the columns
constexpr int kMaxBlocks = 2048;

template <typename scalar_t>
__device__ inline scalar_t warp_sum(scalar_t v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <typename scalar_t>
__global__ void forward_kernel(const scalar_t* table, const int64_t* index, const scalar_t* weight,
                               const scalar_t* gamma, const scalar_t* beta, int64_t M, int64_t B, int64_t C,
                               scalar_t eps, bool relu, scalar_t* out, scalar_t* mean, scalar_t* rstd) {
  const int lane = threadIdx.x % 32;
  const int64_t m = (int64_t)blockIdx.x * kWarps + threadIdx.x / 32;
  if (m >= M) return;
  const int64_t* idx = index + m * B;
  const scalar_t* w = weight ? weight + m * B : nullptr;
  scalar_t* row = out + m * C;  // pre_m is written in place, then normalized
  scalar_t sum = 0;
  for (int64_t c = lane; c < C; c += 32) {
    row[c] = gathered(table, idx, w, B, C, c);
    sum += row[c];
  }
  const scalar_t mu = warp_sum(sum) / scalar_t(C);
  scalar_t var = 0;
  for (int64_t c = lane; c < C; c += 32) var += squared_deviation(row[c], mu);
  const scalar_t inv = inverse_std(warp_sum(var), C, eps);
  for (int64_t c = lane; c < C; c += 32) {
    row[c] = normalized_output(standardized(row[c], mu, inv), gamma[c], beta[c], scalar_t(relu));
  }
  if (lane == 0) {
    mean[m] = mu;
    rstd[m] = inv;
  }
}

// Grid-stride over rows; gamma/beta partials gather in shared memory, one atomic per column per block.
template <typename scalar_t>
__global__ void backward_kernel(const scalar_t* table, const int64_t* index, const scalar_t* weight,
                                const scalar_t* gamma, const scalar_t* beta, const scalar_t* mean,
                                const scalar_t* rstd, const scalar_t* grad_out, int64_t M, int64_t B, int64_t C,
                                bool relu, scalar_t* grad_pre_out, scalar_t* grad_weight, scalar_t* grad_gamma,
                                scalar_t* grad_beta) {
  extern __shared__ unsigned char shared_bytes[];
  scalar_t* part = reinterpret_cast<scalar_t*>(shared_bytes);  // 2 C: gamma, beta
  for (int64_t c = threadIdx.x; c < 2 * C; c += blockDim.x) part[c] = 0;
  __syncthreads();
  const int lane = threadIdx.x % 32;
  for (int64_t m = (int64_t)blockIdx.x * kWarps + threadIdx.x / 32; m < M; m += (int64_t)gridDim.x * kWarps) {
    const int64_t* idx = index + m * B;
    const scalar_t* w = weight ? weight + m * B : nullptr;
    scalar_t* gp = grad_pre_out + m * C;
    scalar_t sum_g = 0, sum_gx = 0;
    for (int64_t c = lane; c < C; c += 32) {  // gp holds g = grad_y * gamma until the sums are known
      const scalar_t xhat = standardized(gathered(table, idx, w, B, C, c), mean[m], rstd[m]);
      const ColumnGrad<scalar_t> col = column_grad(grad_out[m * C + c], xhat, gamma[c], beta[c], scalar_t(relu));
      atomicAdd(part + c, col.d_gamma);
      atomicAdd(part + C + c, col.d_beta);
      gp[c] = col.g;
      sum_g += gp[c];
      sum_gx += gp[c] * xhat;
    }
    sum_g = warp_sum(sum_g);
    sum_gx = warp_sum(sum_gx);
    for (int64_t c = lane; c < C; c += 32) {
      const scalar_t xhat = standardized(gathered(table, idx, w, B, C, c), mean[m], rstd[m]);
      gp[c] = grad_pre(gp[c], xhat, sum_g, sum_gx, rstd[m], C);
    }
    __syncwarp();
    if (!grad_weight) continue;
    for (int64_t b = 0; b < B; ++b) {
      const scalar_t* t = table + idx[b] * C;
      scalar_t dot = 0;
      for (int64_t c = lane; c < C; c += 32) dot += gp[c] * t[c];
      dot = warp_sum(dot);
      if (lane == 0) grad_weight[m * B + b] = dot;
    }
  }
  __syncthreads();
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    if (grad_gamma) atomicAdd(grad_gamma + c, part[c]);
    if (grad_beta) atomicAdd(grad_beta + c, part[C + c]);
  }
}

// One warp per table row, lanes over columns: each row's entries are summed without atomics.
template <typename scalar_t>
__global__ void table_kernel(const scalar_t* grad_pre, const scalar_t* weight, const int64_t* entry_ptr,
                             const int64_t* entries, int64_t R, int64_t B, int64_t C, scalar_t* grad_table) {
  const int lane = threadIdx.x % 32;
  const int64_t r = (int64_t)blockIdx.x * kWarps + threadIdx.x / 32;
  if (r >= R) return;
  for (int64_t c = lane; c < C; c += 32) {
    scalar_t acc = 0;
    for (int64_t p = entry_ptr[r]; p < entry_ptr[r + 1]; ++p) {
      const int64_t e = entries[p];
      acc += (weight ? weight[e] : scalar_t(1)) * grad_pre[(e / B) * C + c];
    }
    grad_table[r * C + c] = acc;
  }
}

}  // namespace

template <typename scalar_t>
void gather_layer_norm_forward_cuda(const scalar_t* table, const int64_t* index, const scalar_t* weight,
                                    const scalar_t* gamma, const scalar_t* beta, int64_t M, int64_t B, int64_t C,
                                    scalar_t eps, bool relu, scalar_t* out, scalar_t* mean, scalar_t* rstd,
                                    void* stream) {
  if (M == 0) return;
  forward_kernel<<<blocks_for(M, kWarps), 32 * kWarps, 0, (cudaStream_t)stream>>>(table, index, weight, gamma, beta,
                                                                                 M, B, C, eps, relu, out, mean, rstd);
  CK_CUDA_CHECK(cudaGetLastError());
}

template <typename scalar_t>
void gather_layer_norm_backward_cuda(const scalar_t* table, const int64_t* index, const scalar_t* weight,
                                     const scalar_t* gamma, const scalar_t* beta, const scalar_t* mean,
                                     const scalar_t* rstd, const scalar_t* grad_out, int64_t M, int64_t B, int64_t C,
                                     bool relu, scalar_t* grad_pre_out, scalar_t* grad_weight, scalar_t* grad_gamma,
                                     scalar_t* grad_beta, void* stream) {
  if (M == 0) return;
  const int64_t blocks = blocks_for(M, kWarps) < kMaxBlocks ? blocks_for(M, kWarps) : kMaxBlocks;
  backward_kernel<<<blocks, 32 * kWarps, 2 * C * sizeof(scalar_t), (cudaStream_t)stream>>>(
      table, index, weight, gamma, beta, mean, rstd, grad_out, M, B, C, relu, grad_pre_out, grad_weight, grad_gamma,
      grad_beta);
  CK_CUDA_CHECK(cudaGetLastError());
}

template <typename scalar_t>
void gather_table_backward_cuda(const scalar_t* grad_pre, const scalar_t* weight, const int64_t* entry_ptr,
                                const int64_t* entries, int64_t R, int64_t B, int64_t C, scalar_t* grad_table,
                                void* stream) {
  if (R == 0) return;
  table_kernel<<<blocks_for(R, kWarps), 32 * kWarps, 0, (cudaStream_t)stream>>>(grad_pre, weight, entry_ptr, entries,
                                                                               R, B, C, grad_table);
  CK_CUDA_CHECK(cudaGetLastError());
}

#define CK_INSTANTIATE(T)                                                                                         \
  template void gather_layer_norm_forward_cuda<T>(const T*, const int64_t*, const T*, const T*, const T*, int64_t, \
                                                  int64_t, int64_t, T, bool, T*, T*, T*, void*);                  \
  template void gather_layer_norm_backward_cuda<T>(const T*, const int64_t*, const T*, const T*, const T*,         \
                                                   const T*, const T*, const T*, int64_t, int64_t, int64_t, bool, \
                                                   T*, T*, T*, T*, void*);                                        \
  template void gather_table_backward_cuda<T>(const T*, const T*, const int64_t*, const int64_t*, int64_t,         \
                                              int64_t, int64_t, T*, void*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
