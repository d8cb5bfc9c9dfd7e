#include <cuda_runtime.h>

#include "gine_aggregate.h"
#include "gine_aggregate_kernel.h"

namespace ck {
namespace {

constexpr int kWarps = 4;  // output rows per block: one warp per row, lanes stride the columns (coalesced)

template <typename scalar_t>
__global__ void forward_kernel(const scalar_t* h, const scalar_t* attr, const int64_t* row_ptr, const int64_t* src,
                               const int64_t* attr_row, int64_t N, int64_t C, scalar_t eps, scalar_t* out) {
  const int64_t i = (int64_t)blockIdx.x * kWarps + threadIdx.x / 32;
  if (i >= N) return;
  for (int64_t c = threadIdx.x % 32; c < C; c += 32) {
    scalar_t acc = (scalar_t(1) + eps) * h[i * C + c];
    for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e)
      acc += gine_message(h[src[e] * C + c], attr[(attr_row ? attr_row[e] : e) * C + c]);
    out[i * C + c] = acc;
  }
}

template <typename scalar_t>
__global__ void grouped_grad_kernel(const scalar_t* h, const scalar_t* attr, const scalar_t* grad_out,
                                    const int64_t* dst, const int64_t* src, const int64_t* attr_row,
                                    const int64_t* group_ptr, const int64_t* entries, int64_t R, int64_t C,
                                    scalar_t self_weight, scalar_t* out) {
  const int64_t r = (int64_t)blockIdx.x * kWarps + threadIdx.x / 32;
  if (r >= R) return;
  for (int64_t c = threadIdx.x % 32; c < C; c += 32) {
    scalar_t acc = self_weight != scalar_t(0) ? self_weight * grad_out[r * C + c] : scalar_t(0);
    for (int64_t p = group_ptr[r]; p < group_ptr[r + 1]; ++p) {
      const int64_t e = entries[p];
      acc += gine_message_grad(grad_out[dst[e] * C + c], h[src[e] * C + c], attr[(attr_row ? attr_row[e] : e) * C + c]);
    }
    out[r * C + c] = acc;
  }
}

template <typename scalar_t>
__global__ void tangent_kernel(const scalar_t* h, const scalar_t* attr, const scalar_t* dh, const scalar_t* dattr,
                               const int64_t* row_ptr, const int64_t* src, const int64_t* attr_row, int64_t N,
                               int64_t C, scalar_t eps, scalar_t* out) {
  const int64_t i = (int64_t)blockIdx.x * kWarps + threadIdx.x / 32;
  if (i >= N) return;
  for (int64_t c = threadIdx.x % 32; c < C; c += 32) {
    scalar_t acc = dh ? (scalar_t(1) + eps) * dh[i * C + c] : scalar_t(0);
    for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
      const int64_t a = (attr_row ? attr_row[e] : e) * C + c, j = src[e] * C + c;
      acc += gine_message_tangent(h[j], attr[a], dh ? dh[j] : scalar_t(0), dattr ? dattr[a] : scalar_t(0));
    }
    out[i * C + c] = acc;
  }
}

}  // namespace

template <typename scalar_t>
void gine_aggregate_forward_cuda(const scalar_t* h, const scalar_t* attr, const int64_t* row_ptr, const int64_t* src,
                                 const int64_t* attr_row, int64_t N, int64_t C, scalar_t eps, scalar_t* out,
                                 void* stream) {
  if (N == 0) return;
  forward_kernel<<<blocks_for(N, kWarps), 32 * kWarps, 0, (cudaStream_t)stream>>>(h, attr, row_ptr, src, attr_row, N,
                                                                                 C, eps, out);
  CK_CUDA_CHECK(cudaGetLastError());
}

template <typename scalar_t>
void gine_aggregate_grouped_grad_cuda(const scalar_t* h, const scalar_t* attr, const scalar_t* grad_out,
                                      const int64_t* dst, const int64_t* src, const int64_t* attr_row,
                                      const int64_t* group_ptr, const int64_t* entries, int64_t R, int64_t C,
                                      scalar_t self_weight, scalar_t* out, void* stream) {
  if (R == 0) return;
  grouped_grad_kernel<<<blocks_for(R, kWarps), 32 * kWarps, 0, (cudaStream_t)stream>>>(
      h, attr, grad_out, dst, src, attr_row, group_ptr, entries, R, C, self_weight, out);
  CK_CUDA_CHECK(cudaGetLastError());
}

template <typename scalar_t>
void gine_aggregate_tangent_cuda(const scalar_t* h, const scalar_t* attr, const scalar_t* dh, const scalar_t* dattr,
                                 const int64_t* row_ptr, const int64_t* src, const int64_t* attr_row, int64_t N,
                                 int64_t C, scalar_t eps, scalar_t* out, void* stream) {
  if (N == 0) return;
  tangent_kernel<<<blocks_for(N, kWarps), 32 * kWarps, 0, (cudaStream_t)stream>>>(h, attr, dh, dattr, row_ptr, src,
                                                                                 attr_row, N, C, eps, out);
  CK_CUDA_CHECK(cudaGetLastError());
}

#define CK_INSTANTIATE(T)                                                                                          \
  template void gine_aggregate_forward_cuda<T>(const T*, const T*, const int64_t*, const int64_t*, const int64_t*, \
                                               int64_t, int64_t, T, T*, void*);                                    \
  template void gine_aggregate_grouped_grad_cuda<T>(const T*, const T*, const T*, const int64_t*, const int64_t*,  \
                                                    const int64_t*, const int64_t*, const int64_t*, int64_t,       \
                                                    int64_t, T, T*, void*);                                       \
  template void gine_aggregate_tangent_cuda<T>(const T*, const T*, const T*, const T*, const int64_t*,            \
                                               const int64_t*, const int64_t*, int64_t, int64_t, T, T*, void*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
