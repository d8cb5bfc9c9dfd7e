// Per (destination, head) math of segment_softmax, shared by the CPU loops and the CUDA kernels.
#pragma once

#include <cmath>

#include "../common/macros.h"

namespace ck {

// Forward for destination row [begin, end) and head h: writes out_ih (D) and returns the lse.
// One pass over the edges with a running maximum (online softmax), so each score is read once.
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t softmax_aggregate_row(const scalar_t* scores, const scalar_t* values,
                                                     int64_t begin, int64_t end, int64_t h, int64_t H,
                                                     int64_t D, scalar_t* out_ih) {
  for (int64_t k = 0; k < D; ++k) out_ih[k] = scalar_t(0);
  if (begin == end) return -INFINITY;
  scalar_t m = -INFINITY, z = scalar_t(0);
  for (int64_t e = begin; e < end; ++e) {
    const scalar_t s = scores[e * H + h];
    const scalar_t* v = values + (e * H + h) * D;
    if (s > m) {  // rescale what was accumulated under the old maximum
      const scalar_t c = exp(m - s);
      z *= c;
      for (int64_t k = 0; k < D; ++k) out_ih[k] *= c;
      m = s;
    }
    const scalar_t p = exp(s - m);
    z += p;
    for (int64_t k = 0; k < D; ++k) out_ih[k] += p * v[k];
  }
  for (int64_t k = 0; k < D; ++k) out_ih[k] /= z;
  return m + log(z);
}

// Backward for one row and head: p_e = exp(s_e - lse); grad_v_e = p_e g; grad_s_e = p_e <g, v_e - out>.
template <typename scalar_t>
CK_HOST_DEVICE inline void softmax_aggregate_row_backward(const scalar_t* scores, const scalar_t* values,
                                                          int64_t begin, int64_t end, int64_t h, int64_t H,
                                                          int64_t D, const scalar_t* out_ih, scalar_t lse,
                                                          const scalar_t* g, scalar_t* grad_scores,
                                                          scalar_t* grad_values) {
  scalar_t g_out = scalar_t(0);
  for (int64_t k = 0; k < D; ++k) g_out += g[k] * out_ih[k];
  for (int64_t e = begin; e < end; ++e) {
    const scalar_t p = exp(scores[e * H + h] - lse);
    const scalar_t* v = values + (e * H + h) * D;
    if (grad_scores) {
      scalar_t gv = scalar_t(0);
      for (int64_t k = 0; k < D; ++k) gv += g[k] * v[k];
      grad_scores[e * H + h] = p * (gv - g_out);
    }
    if (grad_values) {
      scalar_t* gvals = grad_values + (e * H + h) * D;
      for (int64_t k = 0; k < D; ++k) gvals[k] = p * g[k];
    }
  }
}

}  // namespace ck
