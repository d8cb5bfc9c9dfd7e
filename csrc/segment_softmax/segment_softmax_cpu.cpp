#include "segment_softmax.h"
#include "segment_softmax_kernel.h"

namespace ck {

template <typename scalar_t>
void segment_softmax_forward_cpu(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr,
                                 int64_t N, int64_t H, int64_t D, scalar_t* out, scalar_t* lse) {
#pragma omp parallel for schedule(dynamic, 16) if (N * H > 256)
  for (int64_t ih = 0; ih < N * H; ++ih) {
    const int64_t i = ih / H, h = ih % H;
    lse[ih] = softmax_aggregate_row(GivenScores<scalar_t>{scores, H, h}, values, row_ptr[i], row_ptr[i + 1], h, H,
                                    D, out + ih * D);
  }
}

template <typename scalar_t>
void segment_softmax_backward_cpu(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr,
                                  int64_t N, int64_t H, int64_t D, const scalar_t* out, const scalar_t* lse,
                                  const scalar_t* grad_out, scalar_t* grad_scores, scalar_t* grad_values) {
#pragma omp parallel for schedule(dynamic, 16) if (N * H > 256)
  for (int64_t ih = 0; ih < N * H; ++ih) {
    const int64_t i = ih / H, h = ih % H;
    StoreScoreGrad<scalar_t> sink{grad_scores, H, h};
    softmax_aggregate_row_backward(GivenScores<scalar_t>{scores, H, h}, values, row_ptr[i], row_ptr[i + 1], h, H, D,
                                   out + ih * D, lse[ih], grad_out + ih * D, sink, grad_values);
  }
}

template <typename scalar_t>
void segment_attention_forward_cpu(const scalar_t* query, const scalar_t* key, const scalar_t* values,
                                   const int64_t* row_ptr, int64_t N, int64_t H, int64_t C, int64_t D,
                                   scalar_t scale, scalar_t* out, scalar_t* lse) {
#pragma omp parallel for schedule(dynamic, 16) if (N * H > 256)
  for (int64_t ih = 0; ih < N * H; ++ih) {
    const int64_t i = ih / H, h = ih % H;
    lse[ih] = softmax_aggregate_row(DotScores<scalar_t>{query + ih * C, key, H, h, C, scale}, values, row_ptr[i],
                                    row_ptr[i + 1], h, H, D, out + ih * D);
  }
}

template <typename scalar_t>
void segment_attention_backward_cpu(const scalar_t* query, const scalar_t* key, const scalar_t* values,
                                    const int64_t* row_ptr, int64_t N, int64_t H, int64_t C, int64_t D,
                                    scalar_t scale, const scalar_t* out, const scalar_t* lse,
                                    const scalar_t* grad_out, scalar_t* grad_query, scalar_t* grad_key,
                                    scalar_t* grad_values) {
#pragma omp parallel for schedule(dynamic, 16) if (N * H > 256)
  for (int64_t ih = 0; ih < N * H; ++ih) {
    const int64_t i = ih / H, h = ih % H;
    scalar_t* gq = grad_query ? grad_query + ih * C : nullptr;
    if (gq) for (int64_t c = 0; c < C; ++c) gq[c] = scalar_t(0);
    DotScoreGrad<scalar_t> sink{query + ih * C, key, gq, grad_key, H, h, C, scale};
    softmax_aggregate_row_backward(DotScores<scalar_t>{query + ih * C, key, H, h, C, scale}, values, row_ptr[i],
                                   row_ptr[i + 1], h, H, D, out + ih * D, lse[ih], grad_out + ih * D, sink,
                                   grad_values);
  }
}

#define CK_INSTANTIATE(T)                                                                                \
  template void segment_softmax_forward_cpu<T>(const T*, const T*, const int64_t*, int64_t, int64_t, int64_t, \
                                               T*, T*);                                                  \
  template void segment_softmax_backward_cpu<T>(const T*, const T*, const int64_t*, int64_t, int64_t, int64_t, \
                                                const T*, const T*, const T*, T*, T*);
#define CK_INSTANTIATE_ATTENTION(T)                                                                     \
  template void segment_attention_forward_cpu<T>(const T*, const T*, const T*, const int64_t*, int64_t, int64_t, \
                                                 int64_t, int64_t, T, T*, T*);                                \
  template void segment_attention_backward_cpu<T>(const T*, const T*, const T*, const int64_t*, int64_t, int64_t, \
                                                  int64_t, int64_t, T, const T*, const T*, const T*, T*, T*, T*);
CK_INSTANTIATE_ATTENTION(float)
CK_INSTANTIATE_ATTENTION(double)
#undef CK_INSTANTIATE_ATTENTION
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
