#include <cuda_runtime.h>

#include "vector_aggregation.h"
#include "vector_aggregation_kernel.h"

namespace ck {
namespace {

constexpr int kThreads = 128;

template <typename scalar_t>
__global__ void forward_kernel(const scalar_t* x, const scalar_t* w, const int64_t* row_ptr, const int64_t* src,
                               int64_t N, bool normalize, scalar_t* out) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  aggregate_row(x, w, src, row_ptr[i], row_ptr[i + 1], i, normalize, out + 3 * i);
}

// One thread per destination: its own gradient is written once, sources receive atomic adds.
template <typename scalar_t>
__global__ void backward_kernel(const scalar_t* x, const scalar_t* w, const int64_t* row_ptr, const int64_t* src,
                                int64_t N, bool normalize, const scalar_t* grad_out, scalar_t* grad_x,
                                scalar_t* grad_w) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  scalar_t own[3] = {0, 0, 0};
  for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
    scalar_t gx[3];
    const int64_t j = src[e];
    aggregate_edge_backward(x + 3 * i, x + 3 * j, w[e], grad_out + 3 * i, normalize, grad_w ? grad_w + e : nullptr, gx);
    if (!grad_x) continue;
    for (int k = 0; k < 3; ++k) {
      own[k] += gx[k];
      atomicAdd(grad_x + 3 * j + k, -gx[k]);
    }
  }
  if (grad_x) for (int k = 0; k < 3; ++k) atomicAdd(grad_x + 3 * i + k, own[k]);
}

}  // namespace

template <typename scalar_t>
void vector_aggregation_forward_cuda(const scalar_t* x, const scalar_t* w, const int64_t* row_ptr,
                                     const int64_t* src, int64_t N, bool normalize, scalar_t* out,
                                     void* stream) {
  if (N == 0) return;
  forward_kernel<<<blocks_for(N, kThreads), kThreads, 0, (cudaStream_t)stream>>>(x, w, row_ptr, src, N, normalize, out);
  CK_CUDA_CHECK(cudaGetLastError());
}

template <typename scalar_t>
void vector_aggregation_backward_cuda(const scalar_t* x, const scalar_t* w, const int64_t* row_ptr,
                                      const int64_t* src, int64_t N, bool normalize,
                                      const scalar_t* grad_out, scalar_t* grad_x, scalar_t* grad_w,
                                      void* stream) {
  if (N == 0) return;
  backward_kernel<<<blocks_for(N, kThreads), kThreads, 0, (cudaStream_t)stream>>>(x, w, row_ptr, src, N, normalize,
                                                                                  grad_out, grad_x, grad_w);
  CK_CUDA_CHECK(cudaGetLastError());
}

#define CK_INSTANTIATE(T)                                                                               \
  template void vector_aggregation_forward_cuda<T>(const T*, const T*, const int64_t*, const int64_t*, \
                                                   int64_t, bool, T*, void*);                         \
  template void vector_aggregation_backward_cuda<T>(const T*, const T*, const int64_t*, const int64_t*, \
                                                    int64_t, bool, const T*, T*, T*, void*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
