#include <cuda_runtime.h>

#include "symmetric_rmsd.h"
#include "symmetric_rmsd_kernel.h"

namespace ck {
namespace {

constexpr int kThreads = 128;

template <typename scalar_t>
__global__ void symmetric_sse_kernel(const scalar_t* P, const scalar_t* Q, const int64_t* ptr,
                                     int64_t B, const int64_t* perms, const int64_t* perm_offset,
                                     const int64_t* perm_count, scalar_t* sse, int64_t* best) {
  const int64_t b = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (b < B) symmetric_sse_pair(P, Q, ptr, perms, perm_offset, perm_count, b, sse, best);
}

}  // namespace

template <typename scalar_t>
void symmetric_sse_cuda(const scalar_t* P, const scalar_t* Q, const int64_t* ptr, int64_t B,
                        const int64_t* perms, const int64_t* perm_offset, const int64_t* perm_count,
                        scalar_t* sse, int64_t* best, void* stream) {
  if (B == 0) return;
  symmetric_sse_kernel<<<blocks_for(B, kThreads), kThreads, 0, (cudaStream_t)stream>>>(
      P, Q, ptr, B, perms, perm_offset, perm_count, sse, best);
  CK_CUDA_CHECK(cudaGetLastError());
}

template void symmetric_sse_cuda<float>(const float*, const float*, const int64_t*, int64_t,
                                        const int64_t*, const int64_t*, const int64_t*, float*,
                                        int64_t*, void*);
template void symmetric_sse_cuda<double>(const double*, const double*, const int64_t*, int64_t,
                                         const int64_t*, const int64_t*, const int64_t*, double*,
                                         int64_t*, void*);

}  // namespace ck
