#include <algorithm>
#include <vector>

#include "edge_geometry.h"
#include "edge_geometry_kernel.h"

namespace ck {

template <typename scalar_t>
void edge_geometry_forward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* src, int64_t N,
                               const scalar_t* centers, RbfParams p, scalar_t* dist, scalar_t* unit,
                               scalar_t* rbf) {
#pragma omp parallel for schedule(dynamic, 64) if (N > 256)
  for (int64_t i = 0; i < N; ++i)
    for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e)
      edge_geometry_edge(x + 3 * i, x + 3 * src[e], centers, p, dist + e, unit + 3 * e, rbf + e * p.K);
}

template <typename scalar_t>
void edge_geometry_backward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* src, int64_t N,
                                const scalar_t* centers, RbfParams p, const scalar_t* grad_dist,
                                const scalar_t* grad_unit, const scalar_t* grad_rbf, scalar_t* grad_x) {
  std::fill(grad_x, grad_x + 3 * N, scalar_t(0));
#pragma omp parallel if (N > 256)
  {
    std::vector<scalar_t> scattered(3 * N, scalar_t(0));  // per-thread: sources are shared
#pragma omp for schedule(dynamic, 64)
    for (int64_t i = 0; i < N; ++i) {
      for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
        scalar_t gx[3];
        edge_geometry_edge_backward(x + 3 * i, x + 3 * src[e], centers, p, grad_dist ? grad_dist + e : nullptr,
                                    grad_unit ? grad_unit + 3 * e : nullptr, grad_rbf ? grad_rbf + e * p.K : nullptr, gx);
        for (int k = 0; k < 3; ++k) {
          scattered[3 * i + k] += gx[k];
          scattered[3 * src[e] + k] -= gx[k];
        }
      }
    }
#pragma omp critical
    for (int64_t k = 0; k < 3 * N; ++k) grad_x[k] += scattered[k];
  }
}

#define CK_INSTANTIATE(T)                                                                                   \
  template void edge_geometry_forward_cpu<T>(const T*, const int64_t*, const int64_t*, int64_t, const T*,    \
                                             RbfParams, T*, T*, T*);                                       \
  template void edge_geometry_backward_cpu<T>(const T*, const int64_t*, const int64_t*, int64_t, const T*,   \
                                              RbfParams, const T*, const T*, const T*, T*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
