#include "segment_softmax.h"
#include "segment_softmax_kernel.h"

namespace ck {

template <typename scalar_t>
void segment_softmax_forward_cpu(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr,
                                 int64_t N, int64_t H, int64_t D, scalar_t* out, scalar_t* lse) {
#pragma omp parallel for schedule(dynamic, 16) if (N * H > 256)
  for (int64_t ih = 0; ih < N * H; ++ih) {
    const int64_t i = ih / H, h = ih % H;
    lse[ih] = softmax_aggregate_row(scores, values, row_ptr[i], row_ptr[i + 1], h, H, D, out + ih * D);
  }
}

template <typename scalar_t>
void segment_softmax_backward_cpu(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr,
                                  int64_t N, int64_t H, int64_t D, const scalar_t* out, const scalar_t* lse,
                                  const scalar_t* grad_out, scalar_t* grad_scores, scalar_t* grad_values) {
#pragma omp parallel for schedule(dynamic, 16) if (N * H > 256)
  for (int64_t ih = 0; ih < N * H; ++ih) {
    const int64_t i = ih / H, h = ih % H;
    softmax_aggregate_row_backward(scores, values, row_ptr[i], row_ptr[i + 1], h, H, D, out + ih * D, lse[ih],
                                   grad_out + ih * D, grad_scores, grad_values);
  }
}

#define CK_INSTANTIATE(T)                                                                                \
  template void segment_softmax_forward_cpu<T>(const T*, const T*, const int64_t*, int64_t, int64_t, int64_t, \
                                               T*, T*);                                                  \
  template void segment_softmax_backward_cpu<T>(const T*, const T*, const int64_t*, int64_t, int64_t, int64_t, \
                                                const T*, const T*, const T*, T*, T*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
