#include "../common/scatter_rows.h"
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
  scatter_rows<scalar_t>(row_ptr, N, grad_x, [&](int64_t e, int64_t i, scalar_t* gx) {
    scalar_t g_i[3];
    edge_geometry_edge_backward(x + 3 * i, x + 3 * src[e], centers, p, grad_dist ? grad_dist + e : nullptr,
                                grad_unit ? grad_unit + 3 * e : nullptr, grad_rbf ? grad_rbf + e * p.K : nullptr, g_i);
    for (int k = 0; k < 3; ++k) {
      gx[3 * i + k] += g_i[k];
      gx[3 * src[e] + k] -= g_i[k];
    }
  });
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
