#include <cuda_runtime.h>

#include "rmsd_matrix.h"
#include "rmsd_matrix_kernel.h"

namespace ck {
namespace {

constexpr int kThreads = 128;

template <typename scalar_t>
__global__ void centroids_kernel(const scalar_t* X, int64_t count, int64_t n, double* out) {
  const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c < count) centroid(X + 3 * n * c, n, out + 3 * c);
}

// One thread per (g, r) entry; consecutive threads share g and read consecutive conformers of Y.
template <typename scalar_t>
__global__ void rmsd_matrix_kernel(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R,
                                   int64_t n, const int64_t* perms, int64_t n_perms,
                                   const double* xc, const double* yc, scalar_t* sse, int64_t* best) {
  const int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (k < G * R) rmsd_matrix_entry(X, Y, xc, yc, k / R, k % R, R, n, perms, n_perms, sse, best);
}

}  // namespace

template <typename scalar_t>
void rmsd_matrix_cuda(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                      const int64_t* perms, int64_t n_perms, double* centroid_scratch,
                      scalar_t* sse, int64_t* best, void* stream) {
  if (G == 0 || R == 0) return;
  cudaStream_t s = (cudaStream_t)stream;
  double* xc = centroid_scratch;
  double* yc = centroid_scratch + 3 * G;
  centroids_kernel<<<blocks_for(G, kThreads), kThreads, 0, s>>>(X, G, n, xc);
  centroids_kernel<<<blocks_for(R, kThreads), kThreads, 0, s>>>(Y, R, n, yc);
  rmsd_matrix_kernel<<<blocks_for(G * R, kThreads), kThreads, 0, s>>>(X, Y, G, R, n, perms, n_perms,
                                                                     xc, yc, sse, best);
  CK_CUDA_CHECK(cudaGetLastError());
}

template void rmsd_matrix_cuda<float>(const float*, const float*, int64_t, int64_t, int64_t,
                                      const int64_t*, int64_t, double*, float*, int64_t*, void*);
template void rmsd_matrix_cuda<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                       const int64_t*, int64_t, double*, double*, int64_t*, void*);

}  // namespace ck
