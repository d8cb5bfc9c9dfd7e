#include <cuda_runtime.h>

#include "segment_softmax.h"
#include "segment_softmax_kernel.h"

namespace ck {
namespace {

constexpr int kThreads = 128;

// One thread per (destination, head): rows are disjoint, so neither direction needs atomics.
template <typename scalar_t>
__global__ void forward_kernel(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr, int64_t N,
                               int64_t H, int64_t D, scalar_t* out, scalar_t* lse) {
  const int64_t ih = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (ih >= N * H) return;
  const int64_t i = ih / H, h = ih % H;
  lse[ih] = softmax_aggregate_row(GivenScores<scalar_t>{scores, H, h}, values, row_ptr[i], row_ptr[i + 1], h, H, D,
                                  out + ih * D);
}

template <typename scalar_t>
__global__ void backward_kernel(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr, int64_t N,
                                int64_t H, int64_t D, const scalar_t* out, const scalar_t* lse,
                                const scalar_t* grad_out, scalar_t* grad_scores, scalar_t* grad_values) {
  const int64_t ih = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (ih >= N * H) return;
  const int64_t i = ih / H, h = ih % H;
  StoreScoreGrad<scalar_t> sink{grad_scores, H, h};
  softmax_aggregate_row_backward(GivenScores<scalar_t>{scores, H, h}, values, row_ptr[i], row_ptr[i + 1], h, H, D,
                                 out + ih * D, lse[ih], grad_out + ih * D, sink, grad_values);
}

template <typename scalar_t>
__global__ void attention_forward_kernel(const scalar_t* query, const scalar_t* key, const scalar_t* values,
                                         const int64_t* row_ptr, int64_t N, int64_t H, int64_t key_heads, int64_t C, int64_t D,
                                         scalar_t scale, scalar_t* out, scalar_t* lse) {
  const int64_t ih = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (ih >= N * H) return;
  const int64_t i = ih / H, h = ih % H;
  lse[ih] = softmax_aggregate_row(DotScores<scalar_t>{query + ih * C, key, key_heads, h, C, scale}, values, row_ptr[i],
                                  row_ptr[i + 1], h, H, D, out + ih * D);
}

template <typename scalar_t>
__global__ void attention_backward_kernel(const scalar_t* query, const scalar_t* key, const scalar_t* values,
                                          const int64_t* row_ptr, int64_t N, int64_t H, int64_t key_heads, int64_t C, int64_t D,
                                          scalar_t scale, const scalar_t* out, const scalar_t* lse,
                                          const scalar_t* grad_out, scalar_t* grad_query, scalar_t* grad_key,
                                          scalar_t* grad_values) {
  const int64_t ih = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (ih >= N * H) return;
  const int64_t i = ih / H, h = ih % H;
  scalar_t* gq = grad_query ? grad_query + ih * C : nullptr;
  if (gq) for (int64_t c = 0; c < C; ++c) gq[c] = scalar_t(0);
  const DotScores<scalar_t> score{query + ih * C, key, key_heads, h, C, scale};
  DotScoreGrad<scalar_t> sink{score, gq, grad_key};
  softmax_aggregate_row_backward(score, values, row_ptr[i],
                                 row_ptr[i + 1], h, H, D, out + ih * D, lse[ih], grad_out + ih * D, sink, grad_values);
}

}  // namespace

template <typename scalar_t>
void segment_softmax_forward_cuda(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr,
                                  int64_t N, int64_t H, int64_t D, scalar_t* out, scalar_t* lse, void* stream) {
  if (N * H == 0) return;
  forward_kernel<<<blocks_for(N * H, kThreads), kThreads, 0, (cudaStream_t)stream>>>(scores, values, row_ptr, N, H, D,
                                                                                     out, lse);
  CK_CUDA_CHECK(cudaGetLastError());
}

template <typename scalar_t>
void segment_softmax_backward_cuda(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr,
                                   int64_t N, int64_t H, int64_t D, const scalar_t* out, const scalar_t* lse,
                                   const scalar_t* grad_out, scalar_t* grad_scores, scalar_t* grad_values,
                                   void* stream) {
  if (N * H == 0) return;
  backward_kernel<<<blocks_for(N * H, kThreads), kThreads, 0, (cudaStream_t)stream>>>(
      scores, values, row_ptr, N, H, D, out, lse, grad_out, grad_scores, grad_values);
  CK_CUDA_CHECK(cudaGetLastError());
}

template <typename scalar_t>
void segment_attention_forward_cuda(const scalar_t* query, const scalar_t* key, const scalar_t* values,
                                    const int64_t* row_ptr, int64_t N, int64_t H, int64_t key_heads, int64_t C, int64_t D,
                                    scalar_t scale, scalar_t* out, scalar_t* lse, void* stream) {
  if (N * H == 0) return;
  attention_forward_kernel<<<blocks_for(N * H, kThreads), kThreads, 0, (cudaStream_t)stream>>>(
      query, key, values, row_ptr, N, H, key_heads, C, D, scale, out, lse);
  CK_CUDA_CHECK(cudaGetLastError());
}

template <typename scalar_t>
void segment_attention_backward_cuda(const scalar_t* query, const scalar_t* key, const scalar_t* values,
                                     const int64_t* row_ptr, int64_t N, int64_t H, int64_t key_heads, int64_t C, int64_t D,
                                     scalar_t scale, const scalar_t* out, const scalar_t* lse,
                                     const scalar_t* grad_out, scalar_t* grad_query, scalar_t* grad_key,
                                     scalar_t* grad_values, void* stream) {
  if (N * H == 0) return;
  attention_backward_kernel<<<blocks_for(N * H, kThreads), kThreads, 0, (cudaStream_t)stream>>>(
      query, key, values, row_ptr, N, H, key_heads, C, D, scale, out, lse, grad_out, grad_query, grad_key, grad_values);
  CK_CUDA_CHECK(cudaGetLastError());
}

#define CK_INSTANTIATE_ATTENTION(T)                                                                      \
  template void segment_attention_forward_cuda<T>(const T*, const T*, const T*, const int64_t*, int64_t, int64_t, \
                                                  int64_t, int64_t, int64_t, T, T*, T*, void*);                       \
  template void segment_attention_backward_cuda<T>(const T*, const T*, const T*, const int64_t*, int64_t, int64_t, \
                                                   int64_t, int64_t, int64_t, T, const T*, const T*, const T*, T*, T*, T*, void*);
CK_INSTANTIATE_ATTENTION(float)
CK_INSTANTIATE_ATTENTION(double)
#undef CK_INSTANTIATE_ATTENTION

#define CK_INSTANTIATE(T)                                                                                  \
  template void segment_softmax_forward_cuda<T>(const T*, const T*, const int64_t*, int64_t, int64_t, int64_t, \
                                                T*, T*, void*);                                            \
  template void segment_softmax_backward_cuda<T>(const T*, const T*, const int64_t*, int64_t, int64_t, int64_t, \
                                                 const T*, const T*, const T*, T*, T*, void*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
