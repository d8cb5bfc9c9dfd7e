#include "rmsd_matrix.h"

#include "rmsd_matrix_kernel.h"

namespace ck {
namespace {

constexpr int kLanes = 16;  // doubles per lane group: one AVX-512 register, two AVX2 ones

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

}  // namespace

template <typename scalar_t>
void rmsd_matrix_cpu(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                     const int64_t* perms, int64_t n_perms, double* scratch, scalar_t* sse,
                     int64_t* best) {
  if (G == 0 || R == 0) return;
  const int64_t R_pad = rmsd_matrix_padded(R);
  double* Xc = scratch;
  double* Yt = Xc + 3 * n * G;
  double* x_norm = Yt + 3 * n * R_pad;
  double* y_norm = x_norm + G;
  for (int64_t g = 0; g < G; ++g) x_norm[g] = center_conformer(X, g, n, Xc + 3 * n * g, 3, 1);
  for (int64_t r = 0; r < R; ++r) y_norm[r] = center_conformer(Y, r, n, Yt + r, 3 * R_pad, R_pad);
  for (int64_t r = R; r < R_pad; ++r) {  // padding lanes repeat the last conformer (never written out)
    y_norm[r] = y_norm[R - 1];
    for (int64_t c = 0; c < 3 * n; ++c) Yt[c * R_pad + r] = Yt[c * R_pad + R - 1];
  }
  const int64_t groups = G * (R_pad / kLanes);
  const int64_t chunk = 4;
#pragma omp parallel for schedule(dynamic, 1) if (groups * (n_perms + 1) > 16)
  for (int64_t start = 0; start < groups; start += chunk)
    rmsd_matrix_groups<scalar_t>(Xc, Yt, x_norm, y_norm, start, start + chunk < groups ? start + chunk : groups, R,
                                 R_pad, n, perms, n_perms, sse, best);
}

template void rmsd_matrix_cpu<float>(const float*, const float*, int64_t, int64_t, int64_t,
                                     const int64_t*, int64_t, double*, float*, int64_t*);
template void rmsd_matrix_cpu<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                      const int64_t*, int64_t, double*, double*, int64_t*);

}  // namespace ck
