#include "rmsd_matrix.h"

#include "rmsd_matrix_kernel.h"

namespace ck {

template <typename scalar_t>
void rmsd_matrix_cpu(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                     const int64_t* perms, int64_t n_perms, double* scratch, scalar_t* sse,
                     int64_t* best) {
  double* Xc = scratch;
  double* Yc = Xc + 3 * n * G;
  double* x_norm = Yc + 3 * n * R;
  double* y_norm = x_norm + G;
  for (int64_t g = 0; g < G; ++g) x_norm[g] = center_conformer(X, g, n, Xc);
  for (int64_t r = 0; r < R; ++r) y_norm[r] = center_conformer(Y, r, n, Yc);
  const int64_t pairs = G * R;
#pragma omp parallel for schedule(dynamic, 16) if (pairs * (n_perms + 1) > 64)
  for (int64_t k = 0; k < pairs; ++k)
    rmsd_matrix_entry(Xc, Yc, x_norm, y_norm, k / R, k % R, R, n, perms, n_perms, sse, best);
}

template void rmsd_matrix_cpu<float>(const float*, const float*, int64_t, int64_t, int64_t,
                                     const int64_t*, int64_t, double*, float*, int64_t*);
template void rmsd_matrix_cpu<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                      const int64_t*, int64_t, double*, double*, int64_t*);

}  // namespace ck
