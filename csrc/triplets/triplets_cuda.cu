#include <cuda_runtime.h>

#include "triplets.h"
#include "triplets_kernel.h"

namespace ck {
namespace {

constexpr int kThreads = 128;

template <typename scalar_t>
__device__ void atomic_pair(scalar_t* gx, int64_t i, int64_t j, int64_t k, const scalar_t grj[3], const scalar_t grk[3]) {
  for (int c = 0; c < 3; ++c) {
    atomicAdd(gx + 3 * i + c, grj[c] + grk[c]);
    atomicAdd(gx + 3 * j + c, -grj[c]);
    atomicAdd(gx + 3 * k + c, -grk[c]);
  }
}

// One thread per destination row i: its triplets are contiguous.
template <typename scalar_t>
__global__ void geometry_forward(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                 int64_t N, scalar_t* d_ij, scalar_t* d_ik, scalar_t* dot) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  for (int64_t t = row_ptr[i]; t < row_ptr[i + 1]; ++t) triplet_geometry_one(x, i, j[t], k[t], d_ij + t, d_ik + t, dot + t);
}

template <typename scalar_t>
__global__ void geometry_backward(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                  int64_t N, const scalar_t* g_dij, const scalar_t* g_dik, const scalar_t* g_dot,
                                  scalar_t* grad_x) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  for (int64_t t = row_ptr[i]; t < row_ptr[i + 1]; ++t) {
    scalar_t grj[3], grk[3];
    triplet_geometry_grad(x, i, j[t], k[t], g_dij ? g_dij[t] : scalar_t(0), g_dik ? g_dik[t] : scalar_t(0),
                          g_dot ? g_dot[t] : scalar_t(0), grj, grk);
    atomic_pair(grad_x, i, j[t], k[t], grj, grk);
  }
}

template <typename scalar_t>
__global__ void aggregation_forward(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                    int64_t N, const scalar_t* f, const scalar_t* g, scalar_t* out) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  triplet_aggregate_row(x, j, k, f, g, row_ptr[i], row_ptr[i + 1], i, out + 3 * i);
}

template <typename scalar_t>
__global__ void aggregation_backward(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                     int64_t N, const scalar_t* f, const scalar_t* g, const scalar_t* grad_out,
                                     scalar_t* grad_x, scalar_t* grad_f, scalar_t* grad_g) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  for (int64_t t = row_ptr[i]; t < row_ptr[i + 1]; ++t) {
    scalar_t grj[3], grk[3];
    triplet_aggregate_grad(x, i, j[t], k[t], f[t], g[t], grad_out + 3 * i, grad_f ? grad_f + t : nullptr,
                           grad_g ? grad_g + t : nullptr, grj, grk);
    if (grad_x) atomic_pair(grad_x, i, j[t], k[t], grj, grk);
  }
}

}  // namespace

#define CK_LAUNCH(kernel, ...)                                                                         \
  if (N == 0) return;                                                                                  \
  kernel<<<blocks_for(N, kThreads), kThreads, 0, (cudaStream_t)stream>>>(__VA_ARGS__);                 \
  CK_CUDA_CHECK(cudaGetLastError());

template <typename scalar_t>
void triplet_geometry_forward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                   int64_t N, scalar_t* d_ij, scalar_t* d_ik, scalar_t* dot, void* stream) {
  CK_LAUNCH(geometry_forward, x, row_ptr, j, k, N, d_ij, d_ik, dot)
}

template <typename scalar_t>
void triplet_geometry_backward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                    int64_t N, const scalar_t* g_dij, const scalar_t* g_dik, const scalar_t* g_dot,
                                    scalar_t* grad_x, void* stream) {
  CK_LAUNCH(geometry_backward, x, row_ptr, j, k, N, g_dij, g_dik, g_dot, grad_x)
}

template <typename scalar_t>
void triplet_aggregation_forward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                      int64_t N, const scalar_t* f, const scalar_t* g, scalar_t* out, void* stream) {
  CK_LAUNCH(aggregation_forward, x, row_ptr, j, k, N, f, g, out)
}

template <typename scalar_t>
void triplet_aggregation_backward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                       int64_t N, const scalar_t* f, const scalar_t* g, const scalar_t* grad_out,
                                       scalar_t* grad_x, scalar_t* grad_f, scalar_t* grad_g, void* stream) {
  CK_LAUNCH(aggregation_backward, x, row_ptr, j, k, N, f, g, grad_out, grad_x, grad_f, grad_g)
}
#undef CK_LAUNCH

#define CK_INSTANTIATE(T)                                                                                           \
  template void triplet_geometry_forward_cuda<T>(const T*, const int64_t*, const int64_t*, const int64_t*, int64_t, \
                                                 T*, T*, T*, void*);                                                \
  template void triplet_geometry_backward_cuda<T>(const T*, const int64_t*, const int64_t*, const int64_t*, int64_t, \
                                                  const T*, const T*, const T*, T*, void*);                         \
  template void triplet_aggregation_forward_cuda<T>(const T*, const int64_t*, const int64_t*, const int64_t*,       \
                                                    int64_t, const T*, const T*, T*, void*);                        \
  template void triplet_aggregation_backward_cuda<T>(const T*, const int64_t*, const int64_t*, const int64_t*,      \
                                                     int64_t, const T*, const T*, const T*, T*, T*, T*, void*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
