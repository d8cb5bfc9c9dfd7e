#include "../common/scatter_rows.h"
#include "vector_aggregation.h"
#include "vector_aggregation_kernel.h"

namespace ck {

template <typename scalar_t>
void vector_aggregation_forward_cpu(const scalar_t* x, const scalar_t* w, const int64_t* row_ptr,
                                    const int64_t* src, int64_t N, bool normalize, scalar_t* out) {
#pragma omp parallel for schedule(dynamic, 64) if (N > 256)
  for (int64_t i = 0; i < N; ++i) aggregate_row(x, w, src, row_ptr[i], row_ptr[i + 1], i, normalize, out + 3 * i);
}

template <typename scalar_t>
void vector_aggregation_backward_cpu(const scalar_t* x, const scalar_t* w, const int64_t* row_ptr,
                                     const int64_t* src, int64_t N, bool normalize,
                                     const scalar_t* grad_out, scalar_t* grad_x, scalar_t* grad_w) {
  scatter_rows<scalar_t>(row_ptr, N, grad_x, [&](int64_t e, int64_t i, scalar_t* gx) {
    scalar_t g_i[3];
    const int64_t j = src[e];
    aggregate_edge_backward(x + 3 * i, x + 3 * j, w[e], grad_out + 3 * i, normalize, grad_w ? grad_w + e : nullptr, g_i);
    if (!grad_x) return;
    for (int k = 0; k < 3; ++k) {
      gx[3 * i + k] += g_i[k];
      gx[3 * j + k] -= g_i[k];
    }
  });
}

#define CK_INSTANTIATE(T)                                                                              \
  template void vector_aggregation_forward_cpu<T>(const T*, const T*, const int64_t*, const int64_t*, \
                                                  int64_t, bool, T*);                                \
  template void vector_aggregation_backward_cpu<T>(const T*, const T*, const int64_t*, const int64_t*, \
                                                   int64_t, bool, const T*, T*, T*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
