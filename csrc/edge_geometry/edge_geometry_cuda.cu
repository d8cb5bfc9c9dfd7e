#include <cuda_runtime.h>

#include "edge_geometry.h"
#include "edge_geometry_kernel.h"

namespace ck {
namespace {

constexpr int kThreads = 128;

template <typename scalar_t>
__global__ void forward_kernel(const scalar_t* x, const int64_t* row_ptr, const int64_t* src, int64_t N,
                               const scalar_t* centers, RbfParams p, scalar_t* dist, scalar_t* unit, scalar_t* rbf) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e)
    edge_geometry_edge(x + 3 * i, x + 3 * src[e], centers, p, dist + e, unit + 3 * e, rbf + e * p.K);
}

template <typename scalar_t>
__global__ void backward_kernel(const scalar_t* x, const int64_t* row_ptr, const int64_t* src, int64_t N,
                                const scalar_t* centers, RbfParams p, const scalar_t* grad_dist,
                                const scalar_t* grad_unit, const scalar_t* grad_rbf, scalar_t* grad_x) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  scalar_t own[3] = {0, 0, 0};
  for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
    scalar_t gx[3];
    edge_geometry_edge_backward(x + 3 * i, x + 3 * src[e], centers, p, grad_dist ? grad_dist + e : nullptr,
                                grad_unit ? grad_unit + 3 * e : nullptr, grad_rbf ? grad_rbf + e * p.K : nullptr, gx);
    for (int k = 0; k < 3; ++k) {
      own[k] += gx[k];
      atomicAdd(grad_x + 3 * src[e] + k, -gx[k]);
    }
  }
  for (int k = 0; k < 3; ++k) atomicAdd(grad_x + 3 * i + k, own[k]);
}

}  // namespace

template <typename scalar_t>
void edge_geometry_forward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* src, int64_t N,
                                const scalar_t* centers, RbfParams p, scalar_t* dist, scalar_t* unit,
                                scalar_t* rbf, void* stream) {
  if (N == 0) return;
  forward_kernel<<<blocks_for(N, kThreads), kThreads, 0, (cudaStream_t)stream>>>(x, row_ptr, src, N, centers, p, dist,
                                                                                 unit, rbf);
  CK_CUDA_CHECK(cudaGetLastError());
}

template <typename scalar_t>
void edge_geometry_backward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* src, int64_t N,
                                 const scalar_t* centers, RbfParams p, const scalar_t* grad_dist,
                                 const scalar_t* grad_unit, const scalar_t* grad_rbf, scalar_t* grad_x,
                                 void* stream) {
  if (N == 0) return;
  backward_kernel<<<blocks_for(N, kThreads), kThreads, 0, (cudaStream_t)stream>>>(x, row_ptr, src, N, centers, p,
                                                                                  grad_dist, grad_unit, grad_rbf, grad_x);
  CK_CUDA_CHECK(cudaGetLastError());
}

#define CK_INSTANTIATE(T)                                                                                    \
  template void edge_geometry_forward_cuda<T>(const T*, const int64_t*, const int64_t*, int64_t, const T*,    \
                                              RbfParams, T*, T*, T*, void*);                                \
  template void edge_geometry_backward_cuda<T>(const T*, const int64_t*, const int64_t*, int64_t, const T*,   \
                                               RbfParams, const T*, const T*, const T*, T*, void*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
