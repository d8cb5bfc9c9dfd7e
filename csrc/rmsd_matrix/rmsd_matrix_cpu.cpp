#include "rmsd_matrix.h"

#include "rmsd_matrix_kernel.h"

namespace ck {

template <typename scalar_t>
void rmsd_matrix_cpu(const scalar_t* X, const scalar_t* Y, int64_t G, int64_t R, int64_t n,
                     const int64_t* perms, int64_t n_perms, double* centroid_scratch, scalar_t* sse,
                     int64_t* best) {
  double* xc = centroid_scratch;
  double* yc = centroid_scratch + 3 * G;
  for (int64_t g = 0; g < G; ++g) centroid(X + 3 * n * g, n, xc + 3 * g);
  for (int64_t r = 0; r < R; ++r) centroid(Y + 3 * n * r, n, yc + 3 * r);
  const int64_t pairs = G * R;
#pragma omp parallel for schedule(dynamic, 8) if (pairs * (n_perms + 1) > 64)
  for (int64_t k = 0; k < pairs; ++k)
    rmsd_matrix_entry(X, Y, xc, yc, k / R, k % R, R, n, perms, n_perms, sse, best);
}

template void rmsd_matrix_cpu<float>(const float*, const float*, int64_t, int64_t, int64_t,
                                     const int64_t*, int64_t, double*, float*, int64_t*);
template void rmsd_matrix_cpu<double>(const double*, const double*, int64_t, int64_t, int64_t,
                                      const int64_t*, int64_t, double*, double*, int64_t*);

}  // namespace ck
