#include <cuda_runtime.h>

#include "rmsd_matrix.h"
#include "rmsd_matrix_kernel.h"

namespace ck {
namespace {

constexpr int kThreads = 128;

template <typename scalar_t>
__global__ void center_kernel(const scalar_t* X, int64_t count, int64_t n, double* centred, double* norm) {
  const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c < count) norm[c] = center_conformer(X, c, n, centred);
}

// One thread per (g, r) entry; consecutive threads share g and read consecutive conformers of Y.
template <typename scalar_t>
__global__ void rmsd_matrix_kernel(int64_t G, int64_t R,
                                   int64_t n, const int64_t* perms, int64_t n_perms,
                                   const double* Xc, const double* Yc, const double* x_norm,
                                   const double* y_norm, scalar_t* sse, int64_t* best) {
  const int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (k < G * R) rmsd_matrix_entry(Xc, Yc, x_norm, y_norm, k / R, k % R, R, n, perms, n_perms, sse, best);
}

}  // namespace

template <typename scalar_t>
void rmsd_matrix_cuda(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                      const int64_t* perms, int64_t n_perms, double* scratch,
                      scalar_t* sse, int64_t* best, void* stream) {
  if (G == 0 || R == 0) return;
  cudaStream_t s = (cudaStream_t)stream;
  double* Xc = scratch;
  double* Yc = Xc + 3 * n * G;
  double* x_norm = Yc + 3 * n * R;
  double* y_norm = x_norm + G;
  center_kernel<<<blocks_for(G, kThreads), kThreads, 0, s>>>(X, G, n, Xc, x_norm);
  center_kernel<<<blocks_for(R, kThreads), kThreads, 0, s>>>(Y, R, n, Yc, y_norm);
  rmsd_matrix_kernel<scalar_t><<<blocks_for(G * R, kThreads), kThreads, 0, s>>>(
      G, R, n, perms, n_perms, Xc, Yc, x_norm, y_norm, sse, best);
  CK_CUDA_CHECK(cudaGetLastError());
}

template void rmsd_matrix_cuda<float>(const float*, const float*, int64_t, int64_t, int64_t,
                                      const int64_t*, int64_t, double*, float*, int64_t*, void*);
template void rmsd_matrix_cuda<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                       const int64_t*, int64_t, double*, double*, int64_t*, void*);

}  // namespace ck
