// Per (destination, head) math of segment_softmax, shared by the CPU loops and the CUDA kernels.
#pragma once

#include <cmath>

#include "../common/macros.h"

namespace ck {

// Edge scores of head h: given (E x H), or the scaled dot product of the destination's query
// (N x H x C) with the edge's key (E x H x C), computed on the fly so no (E x H) scores exist.
template <typename scalar_t>
struct GivenScores {
  const scalar_t* scores;
  int64_t H, h;
  CK_HOST_DEVICE scalar_t operator()(int64_t e) const { return scores[e * H + h]; }
};

// Keys are per head (E x H x C, key_heads = H) or shared by all heads (E x 1 x C, key_heads = 1).
template <typename scalar_t>
struct DotScores {
  const scalar_t* q_ih;  // the destination's query for head h (C)
  const scalar_t* key;   // E x key_heads x C
  int64_t key_heads, h, C;
  scalar_t scale;
  CK_HOST_DEVICE const scalar_t* key_row(int64_t e) const { return key + (e * key_heads + (key_heads == 1 ? 0 : h)) * C; }
  CK_HOST_DEVICE scalar_t operator()(int64_t e) const {
    const scalar_t* k = key_row(e);
    scalar_t s = scalar_t(0);
    for (int64_t c = 0; c < C; ++c) s += q_ih[c] * k[c];
    return s * scale;
  }
};

// Forward for destination row [begin, end) and head h: writes out_ih (D) and returns the lse.
// One pass over the edges with a running maximum (online softmax), so each score is computed once.
template <typename scalar_t, typename Score>
CK_HOST_DEVICE inline scalar_t softmax_aggregate_row(const Score& score, const scalar_t* values,
                                                     int64_t begin, int64_t end, int64_t h, int64_t H,
                                                     int64_t D, scalar_t* out_ih) {
  for (int64_t k = 0; k < D; ++k) out_ih[k] = scalar_t(0);
  if (begin == end) return -INFINITY;
  scalar_t m = -INFINITY, z = scalar_t(0);
  for (int64_t e = begin; e < end; ++e) {
    const scalar_t s = score(e);
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
// grad_score(e, value) receives each edge's score gradient (stored, or pushed into query and key).
template <typename scalar_t, typename Score, typename ScoreGrad>
CK_HOST_DEVICE inline void softmax_aggregate_row_backward(const Score& score, const scalar_t* values,
                                                          int64_t begin, int64_t end, int64_t h, int64_t H,
                                                          int64_t D, const scalar_t* out_ih, scalar_t lse,
                                                          const scalar_t* g, ScoreGrad& grad_score,
                                                          scalar_t* grad_values) {
  scalar_t g_out = scalar_t(0);
  for (int64_t k = 0; k < D; ++k) g_out += g[k] * out_ih[k];
  for (int64_t e = begin; e < end; ++e) {
    const scalar_t p = exp(score(e) - lse);
    const scalar_t* v = values + (e * H + h) * D;
    if (grad_score.wanted()) {
      scalar_t gv = scalar_t(0);
      for (int64_t k = 0; k < D; ++k) gv += g[k] * v[k];
      grad_score(e, p * (gv - g_out));
    }
    if (grad_values) {
      scalar_t* gvals = grad_values + (e * H + h) * D;
      for (int64_t k = 0; k < D; ++k) gvals[k] = p * g[k];
    }
  }
}

// Score-gradient sinks: into a stored (E x H) array, or into the query (row-owned) and the key.
template <typename scalar_t>
struct StoreScoreGrad {
  scalar_t* grad_scores;
  int64_t H, h;
  CK_HOST_DEVICE bool wanted() const { return grad_scores != nullptr; }
  CK_HOST_DEVICE void operator()(int64_t e, scalar_t g) { grad_scores[e * H + h] = g; }
};

// Adds v at p; on the GPU atomically when several threads share p (keys shared by the heads).
template <typename scalar_t>
CK_HOST_DEVICE inline void accumulate(scalar_t* p, scalar_t v, bool shared) {
#if defined(__CUDA_ARCH__)
  if (shared) { atomicAdd(p, v); return; }
#endif
  *p += v;
}

// grad_key must be zero-filled: shared keys collect one contribution per head.
template <typename scalar_t>
struct DotScoreGrad {
  DotScores<scalar_t> score;
  scalar_t* grad_q_ih;  // may be null
  scalar_t* grad_key;   // may be null
  CK_HOST_DEVICE bool wanted() const { return grad_q_ih != nullptr || grad_key != nullptr; }
  CK_HOST_DEVICE void operator()(int64_t e, scalar_t g) {
    const scalar_t gs = g * score.scale;
    const scalar_t* k = score.key_row(e);
    const int64_t C = score.C;
    if (grad_q_ih) for (int64_t c = 0; c < C; ++c) grad_q_ih[c] += gs * k[c];
    if (grad_key) {
      scalar_t* gk = grad_key + (k - score.key);
      for (int64_t c = 0; c < C; ++c) accumulate(gk + c, gs * score.q_ih[c], score.key_heads == 1);
    }
  }
};

}  // namespace ck
