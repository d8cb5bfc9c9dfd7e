#include <cuda_runtime.h>

#include <utility>

#include "distance_descent.h"
#include "distance_descent_kernel.h"

namespace ck {
namespace {

constexpr int kThreads = 128;  // one thread per atom; a step is one launch (steps are sequential)

template <typename scalar_t>
__global__ void descent_kernel(const scalar_t* x, const scalar_t* d, const int64_t* row_ptr, const int64_t* src,
                               int64_t N, scalar_t lr, scalar_t* x_next) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < N) descent_atom(x, d, row_ptr, src, i, lr, x_next);
}

template <typename scalar_t>
__global__ void adjoint_kernel(const scalar_t* x, const scalar_t* d, const int64_t* row_ptr, const int64_t* src,
                               const int64_t* dst, const int64_t* col_ptr, const int64_t* col_edges, int64_t N,
                               scalar_t lr, const scalar_t* lambda, scalar_t* lambda_out, scalar_t* grad_d) {
  const int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (k < N) adjoint_atom(x, d, row_ptr, src, dst, col_ptr, col_edges, k, lr, lambda, lambda_out, grad_d);
}

}  // namespace

template <typename scalar_t>
void distance_descent_forward_cuda(const scalar_t* d, const int64_t* row_ptr, const int64_t* src, int64_t N,
                                   int64_t steps, scalar_t lr, scalar_t* states, void* stream) {
  if (N == 0) return;
  for (int64_t t = 0; t < steps; ++t)
    descent_kernel<<<blocks_for(N, kThreads), kThreads, 0, (cudaStream_t)stream>>>(
        states + t * N * 3, d, row_ptr, src, N, lr, states + (t + 1) * N * 3);
  CK_CUDA_CHECK(cudaGetLastError());
}

template <typename scalar_t>
void distance_descent_backward_cuda(const scalar_t* states, const scalar_t* d, const int64_t* row_ptr,
                                    const int64_t* src, const int64_t* dst, const int64_t* col_ptr,
                                    const int64_t* col_edges, int64_t N, int64_t steps, scalar_t lr,
                                    scalar_t* grad_x, scalar_t* grad_d, scalar_t* scratch, void* stream) {
  if (N == 0) return;
  scalar_t* lambda = grad_x;
  scalar_t* next = scratch;
  for (int64_t t = steps - 1; t >= 0; --t) {
    adjoint_kernel<<<blocks_for(N, kThreads), kThreads, 0, (cudaStream_t)stream>>>(
        states + t * N * 3, d, row_ptr, src, dst, col_ptr, col_edges, N, lr, lambda, next, grad_d);
    std::swap(lambda, next);
  }
  CK_CUDA_CHECK(cudaGetLastError());
  if (lambda != grad_x)
    CK_CUDA_CHECK(cudaMemcpyAsync(grad_x, lambda, 3 * N * sizeof(scalar_t), cudaMemcpyDeviceToDevice,
                                  (cudaStream_t)stream));
}

#define CK_INSTANTIATE(T)                                                                                       \
  template void distance_descent_forward_cuda<T>(const T*, const int64_t*, const int64_t*, int64_t, int64_t, T, \
                                                 T*, void*);                                                    \
  template void distance_descent_backward_cuda<T>(const T*, const T*, const int64_t*, const int64_t*,           \
                                                  const int64_t*, const int64_t*, const int64_t*, int64_t,      \
                                                  int64_t, T, T*, T*, T*, void*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
