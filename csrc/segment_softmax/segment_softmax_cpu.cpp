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
                                   const int64_t* row_ptr, int64_t N, int64_t H, int64_t key_heads, int64_t C,
                                   int64_t D, scalar_t scale, scalar_t* out, scalar_t* lse) {
#pragma omp parallel for schedule(dynamic, 16) if (N * H > 256)
  for (int64_t ih = 0; ih < N * H; ++ih) {
    const int64_t i = ih / H, h = ih % H;
    lse[ih] = softmax_aggregate_row(DotScores<scalar_t>{query + ih * C, key, key_heads, h, C, scale}, values, row_ptr[i],
                                    row_ptr[i + 1], h, H, D, out + ih * D);
  }
}

template <typename scalar_t>
void segment_attention_backward_cpu(const scalar_t* query, const scalar_t* key, const scalar_t* values,
                                    const int64_t* row_ptr, int64_t N, int64_t H, int64_t key_heads, int64_t C,
                                    int64_t D, scalar_t scale, const scalar_t* out, const scalar_t* lse,
                                    const scalar_t* grad_out, scalar_t* grad_query, scalar_t* grad_key,
                                    scalar_t* grad_values) {
  // One thread owns a destination row with all its heads: the row's edges, and so their (possibly
  // head-shared) key gradients, are touched by that thread only.
#pragma omp parallel for schedule(dynamic, 4) if (N > 16)
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t h = 0; h < H; ++h) {
      const int64_t ih = i * H + h;
      scalar_t* gq = grad_query ? grad_query + ih * C : nullptr;
      if (gq) for (int64_t c = 0; c < C; ++c) gq[c] = scalar_t(0);
      const DotScores<scalar_t> score{query + ih * C, key, key_heads, h, C, scale};
      DotScoreGrad<scalar_t> sink{score, gq, grad_key};
      softmax_aggregate_row_backward(score, values, row_ptr[i], row_ptr[i + 1], h, H, D, out + ih * D, lse[ih],
                                     grad_out + ih * D, sink, grad_values);
    }
  }
}

#define CK_INSTANTIATE(T)                                                                                \
  template void segment_softmax_forward_cpu<T>(const T*, const T*, const int64_t*, int64_t, int64_t, int64_t, \
                                               T*, T*);                                                  \
  template void segment_softmax_backward_cpu<T>(const T*, const T*, const int64_t*, int64_t, int64_t, int64_t, \
                                                const T*, const T*, const T*, T*, T*);
#define CK_INSTANTIATE_ATTENTION(T)                                                                     \
  template void segment_attention_forward_cpu<T>(const T*, const T*, const T*, const int64_t*, int64_t, int64_t, \
                                                 int64_t, int64_t, int64_t, T, T*, T*);                                \
  template void segment_attention_backward_cpu<T>(const T*, const T*, const T*, const int64_t*, int64_t, int64_t, \
                                                  int64_t, int64_t, int64_t, T, const T*, const T*, const T*, T*, T*, T*);
CK_INSTANTIATE_ATTENTION(float)
CK_INSTANTIATE_ATTENTION(double)
#undef CK_INSTANTIATE_ATTENTION
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
