#include "rmsd_matrix.h"

#include <algorithm>
#include <vector>

#include "rmsd_matrix_kernel.h"

namespace ck {
namespace {

constexpr int kLanes = kCpuLanes;

// Lane groups [begin, end) of the (G x R_pad / kLanes) grid. Compiled once per instruction set
// and picked at load time (GCC function multi-versioning): the lane loops vectorize to the widest
// registers the CPU has, and a plain x86-64 build still runs everywhere.
template <typename scalar_t>
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void rmsd_matrix_groups(const double* Xc, const double* Yt, const double* x_norm, const double* y_norm,
                        int64_t begin, int64_t end, int64_t R, int64_t R_pad, int64_t n,
                        const int64_t* perms, int64_t n_perms, scalar_t* sse, int64_t* best) {
  const int64_t groups_per_row = R_pad / kLanes;
  for (int64_t k = begin; k < end; ++k)
    rmsd_matrix_lanes<kLanes>(Xc, Yt, x_norm, y_norm, k / groups_per_row, (k % groups_per_row) * kLanes, R,
                              R_pad, n, perms, n_perms, sse, best);
}

// Centred X (AoS) and Y (transposed, padded with copies of its last conformer) of one molecule.
template <typename scalar_t>
void center_molecule(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n, double* scratch) {
  const int64_t R_pad = rmsd_matrix_padded(R);
  const RmsdMatrixScratch s(scratch, G, n, R_pad);
  for (int64_t g = 0; g < G; ++g) s.x_norm[g] = center_conformer(X, g, n, s.Xc + 3 * n * g, 3, 1);
  for (int64_t r = 0; r < R; ++r) s.y_norm[r] = center_conformer(Y, r, n, s.Yt + r, 3 * R_pad, R_pad);
  for (int64_t r = R; r < R_pad; ++r) {  // zeros would hold Newton at its linear rate in these lanes
    s.y_norm[r] = s.y_norm[R - 1];
    for (int64_t c = 0; c < 3 * n; ++c) s.Yt[c * R_pad + r] = s.Yt[c * R_pad + R - 1];
  }
}

constexpr int64_t kChunk = 4;  // lane groups per work item

}  // namespace

template <typename scalar_t>
void rmsd_matrices_cpu(int64_t M, const scalar_t* const* X, const scalar_t* const* Y, const int64_t* G,
                       const int64_t* R, const int64_t* n, const int64_t* const* perms, const int64_t* n_perms,
                       double* const* scratch, scalar_t* const* sse, int64_t* const* best) {
  std::vector<int64_t> first_item(M + 1, 0);  // work items of molecule m: first_item[m] .. first_item[m + 1]
  int64_t work = 0;
  for (int64_t m = 0; m < M; ++m) {
    const int64_t groups = G[m] * R[m] > 0 ? G[m] * (rmsd_matrix_padded(R[m]) / kLanes) : 0;
    first_item[m + 1] = first_item[m] + (groups + kChunk - 1) / kChunk;
    work += groups * (n_perms[m] + 1);
  }
#pragma omp parallel if (work > 16)
  {
#pragma omp for schedule(dynamic, 1)
    for (int64_t m = 0; m < M; ++m)
      if (G[m] * R[m] > 0) center_molecule(X[m], Y[m], G[m], R[m], n[m], scratch[m]);
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < first_item[M]; ++item) {
      const int64_t m = std::upper_bound(first_item.begin(), first_item.end(), item) - first_item.begin() - 1;
      const int64_t R_pad = rmsd_matrix_padded(R[m]), groups = G[m] * (R_pad / kLanes);
      const RmsdMatrixScratch s(scratch[m], G[m], n[m], R_pad);
      const int64_t start = (item - first_item[m]) * kChunk;
      rmsd_matrix_groups<scalar_t>(s.Xc, s.Yt, s.x_norm, s.y_norm, start, std::min(start + kChunk, groups), R[m], R_pad,
                                   n[m], perms[m], n_perms[m], sse[m], best[m]);
    }
  }
}

template <typename scalar_t>
void rmsd_matrix_cpu(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                     const int64_t* perms, int64_t n_perms, double* scratch, scalar_t* sse,
                     int64_t* best) {
  rmsd_matrices_cpu<scalar_t>(1, &X, &Y, &G, &R, &n, &perms, &n_perms, &scratch, &sse, &best);
}

template void rmsd_matrices_cpu<float>(int64_t, const float* const*, const float* const*, const int64_t*,
                                       const int64_t*, const int64_t*, const int64_t* const*, const int64_t*,
                                       double* const*, float* const*, int64_t* const*);
template void rmsd_matrices_cpu<double>(int64_t, const double* const*, const double* const*, const int64_t*,
                                        const int64_t*, const int64_t*, const int64_t* const*, const int64_t*,
                                        double* const*, double* const*, int64_t* const*);
template void rmsd_matrix_cpu<float>(const float*, const float*, int64_t, int64_t, int64_t,
                                     const int64_t*, int64_t, double*, float*, int64_t*);
template void rmsd_matrix_cpu<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                      const int64_t*, int64_t, double*, double*, int64_t*);

}  // namespace ck
