#include <vector>

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
  if (grad_x) std::fill(grad_x, grad_x + 3 * N, scalar_t(0));
#pragma omp parallel if (N > 256)
  {
    // Destinations are owned by one thread each; sources are scattered into a per-thread buffer.
    std::vector<scalar_t> scattered(grad_x ? 3 * N : 0, scalar_t(0));
#pragma omp for schedule(dynamic, 64)
    for (int64_t i = 0; i < N; ++i) {
      scalar_t own[3] = {0, 0, 0};
      for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
        scalar_t gx[3];
        const int64_t j = src[e];
        aggregate_edge_backward(x + 3 * i, x + 3 * j, w[e], grad_out + 3 * i, normalize,
                                grad_w ? grad_w + e : nullptr, gx);
        if (!grad_x) continue;
        for (int k = 0; k < 3; ++k) {
          own[k] += gx[k];
          scattered[3 * j + k] -= gx[k];
        }
      }
      if (grad_x) for (int k = 0; k < 3; ++k) scattered[3 * i + k] += own[k];
    }
    if (grad_x) {
#pragma omp critical
      for (int64_t k = 0; k < 3 * N; ++k) grad_x[k] += scattered[k];
    }
  }
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
