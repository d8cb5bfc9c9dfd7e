#include <cuda_runtime.h>

#include "rmsd_matrix.h"
#include "rmsd_matrix_kernel.h"

namespace ck {
namespace {

constexpr int kThreads = 128;

// Centres conformer c of X into out (AoS, or transposed when transposed_stride = R_pad > 0).
// Slots from count to padded_count repeat the last conformer (zeros would keep Newton at its
// slowest, linear rate in the padding threads and so in their whole warp).
template <typename scalar_t>
__global__ void center_kernel(const scalar_t* X, int64_t count, int64_t padded_count, int64_t n, double* out,
                              int64_t transposed_stride, double* norm) {
  const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= padded_count) return;
  const int64_t atom_stride = transposed_stride ? 3 * transposed_stride : 3;
  const int64_t coord_stride = transposed_stride ? transposed_stride : 1;
  double* base = transposed_stride ? out + c : out + 3 * n * c;
  norm[c] = center_conformer(X, c < count ? c : count - 1, n, base, atom_stride, coord_stride);
}

// One thread per (g, r) entry (one lane): consecutive threads share g and read consecutive reference
// conformers of the transposed Yt, so every load of a warp is one coalesced run.
template <typename scalar_t>
__global__ void rmsd_matrix_kernel(int64_t G, int64_t R, int64_t R_pad,
                                   int64_t n, const int64_t* perms, int64_t n_perms,
                                   const double* Xc, const double* Yt, const double* x_norm,
                                   const double* y_norm, scalar_t* sse, int64_t* best) {
  const int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (k < G * R_pad)
    rmsd_matrix_lanes<1>(Xc, Yt, x_norm, y_norm, k / R_pad, k % R_pad, R, R_pad, n, perms, n_perms, sse, best);
}

}  // namespace

template <typename scalar_t>
void rmsd_matrix_cuda(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                      const int64_t* perms, int64_t n_perms, double* scratch,
                      scalar_t* sse, int64_t* best, void* stream) {
  if (G == 0 || R == 0) return;
  cudaStream_t s = (cudaStream_t)stream;
  const int64_t R_pad = rmsd_matrix_padded(R);
  const RmsdMatrixScratch w(scratch, G, n, R_pad);
  center_kernel<<<blocks_for(G, kThreads), kThreads, 0, s>>>(X, G, G, n, w.Xc, 0, w.x_norm);
  center_kernel<<<blocks_for(R_pad, kThreads), kThreads, 0, s>>>(Y, R, R_pad, n, w.Yt, R_pad, w.y_norm);
  rmsd_matrix_kernel<scalar_t><<<blocks_for(G * R_pad, kThreads), kThreads, 0, s>>>(
      G, R, R_pad, n, perms, n_perms, w.Xc, w.Yt, w.x_norm, w.y_norm, sse, best);
  CK_CUDA_CHECK(cudaGetLastError());
}

template void rmsd_matrix_cuda<float>(const float*, const float*, int64_t, int64_t, int64_t,
                                      const int64_t*, int64_t, double*, float*, int64_t*, void*);
template void rmsd_matrix_cuda<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                       const int64_t*, int64_t, double*, double*, int64_t*, void*);

}  // namespace ck
