#include <cuda_runtime.h>

#include "kabsch.h"
#include "kabsch_kernel.h"

namespace ck {
namespace {

constexpr int kThreads = 128;

template <typename scalar_t>
__global__ void kabsch_forward_kernel(const scalar_t* P, const scalar_t* Q, const scalar_t* weights,
                                      const int64_t* ptr, int64_t B, scalar_t* R, scalar_t* pc,
                                      scalar_t* qc, scalar_t* sse) {
  const int64_t b = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  const int64_t start = ptr[b];
  kabsch_pair(P + 3 * start, Q + 3 * start, weights ? weights + start : nullptr, ptr[b + 1] - start,
              R + 9 * b, pc + 3 * b, qc + 3 * b, sse + b);
}

// One thread per atom; its pair is found by binary search in ptr.
template <typename scalar_t>
__global__ void aligned_sse_backward_kernel(const scalar_t* P, const scalar_t* Q,
                                            const scalar_t* weights, const int64_t* ptr, int64_t B,
                                            int64_t total, const scalar_t* R, const scalar_t* pc,
                                            const scalar_t* qc, const scalar_t* grad_sse,
                                            scalar_t* grad_P, scalar_t* grad_Q) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int64_t b = segment_of(ptr, B, i);
  aligned_sse_backward_atom(P + 3 * i, Q + 3 * i, weights ? weights[i] : scalar_t(1), R + 9 * b,
                            pc + 3 * b, qc + 3 * b, grad_sse[b], grad_P ? grad_P + 3 * i : nullptr,
                            grad_Q ? grad_Q + 3 * i : nullptr);
}

}  // namespace

template <typename scalar_t>
void kabsch_forward_cuda(const scalar_t* P, const scalar_t* Q, const scalar_t* weights,
                         const int64_t* ptr, int64_t B, scalar_t* R, scalar_t* p_centroid,
                         scalar_t* q_centroid, scalar_t* sse, void* stream) {
  if (B == 0) return;
  kabsch_forward_kernel<<<blocks_for(B, kThreads), kThreads, 0, (cudaStream_t)stream>>>(
      P, Q, weights, ptr, B, R, p_centroid, q_centroid, sse);
  CK_CUDA_CHECK(cudaGetLastError());
}

template <typename scalar_t>
void aligned_sse_backward_cuda(const scalar_t* P, const scalar_t* Q, const scalar_t* weights,
                               const int64_t* ptr, int64_t B, int64_t total, const scalar_t* R,
                               const scalar_t* p_centroid, const scalar_t* q_centroid,
                               const scalar_t* grad_sse, scalar_t* grad_P, scalar_t* grad_Q,
                               void* stream) {
  if (total == 0) return;
  aligned_sse_backward_kernel<<<blocks_for(total, kThreads), kThreads, 0, (cudaStream_t)stream>>>(
      P, Q, weights, ptr, B, total, R, p_centroid, q_centroid, grad_sse, grad_P, grad_Q);
  CK_CUDA_CHECK(cudaGetLastError());
}

#define CK_INSTANTIATE(T)                                                                         \
  template void kabsch_forward_cuda<T>(const T*, const T*, const T*, const int64_t*, int64_t, T*, \
                                       T*, T*, T*, void*);                                        \
  template void aligned_sse_backward_cuda<T>(const T*, const T*, const T*, const int64_t*, int64_t, \
                                             int64_t, const T*, const T*, const T*, const T*, T*, \
                                             T*, void*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
