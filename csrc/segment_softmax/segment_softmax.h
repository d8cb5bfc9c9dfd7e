// Fused segment-softmax attention: per destination atom i and head h, softmax of the scores of
// its incoming edges, then the weighted sum of the edge values:
//   out[i, h, :] = sum_{e in row i} softmax_e(scores[., h])[e] * values[e, h, :].
// Edges are in CSR by destination (row_ptr, N + 1 entries). scores (E x H), values (E x H x D),
// out (N x H x D) and lse (N x H, the log-sum-exp kept for backward) are contiguous. An atom with
// no edge gets 0 and lse = -inf. No E x H probability tensor is stored; backward recomputes it.
#pragma once

#include <cstdint>

namespace ck {

template <typename scalar_t>
void segment_softmax_forward_cpu(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr,
                                 int64_t N, int64_t H, int64_t D, scalar_t* out, scalar_t* lse);

// grad_scores (E x H) and grad_values (E x H x D) of sum <grad_out, out>; either may be null.
template <typename scalar_t>
void segment_softmax_backward_cpu(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr,
                                  int64_t N, int64_t H, int64_t D, const scalar_t* out, const scalar_t* lse,
                                  const scalar_t* grad_out, scalar_t* grad_scores, scalar_t* grad_values);

template <typename scalar_t>
void segment_softmax_forward_cuda(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr,
                                  int64_t N, int64_t H, int64_t D, scalar_t* out, scalar_t* lse, void* stream);

template <typename scalar_t>
void segment_softmax_backward_cuda(const scalar_t* scores, const scalar_t* values, const int64_t* row_ptr,
                                   int64_t N, int64_t H, int64_t D, const scalar_t* out, const scalar_t* lse,
                                   const scalar_t* grad_out, scalar_t* grad_scores, scalar_t* grad_values,
                                   void* stream);

// Attention with the scores computed in the kernel: score_e,h = scale <query[i, h, :], key[e, h, :]>
// for the destination i of edge e (query N x H x C, key E x H x C), so neither the (E x H) scores
// nor the gathered (E x H x C) queries exist. Backward fills grad_query (N x H x C), grad_key
// (E x H x C) and grad_values (E x H x D); any may be null.
template <typename scalar_t>
void segment_attention_forward_cpu(const scalar_t* query, const scalar_t* key, const scalar_t* values,
                                   const int64_t* row_ptr, int64_t N, int64_t H, int64_t key_heads, int64_t C, int64_t D,
                                   scalar_t scale, scalar_t* out, scalar_t* lse);

template <typename scalar_t>
void segment_attention_backward_cpu(const scalar_t* query, const scalar_t* key, const scalar_t* values,
                                    const int64_t* row_ptr, int64_t N, int64_t H, int64_t key_heads, int64_t C, int64_t D,
                                    scalar_t scale, const scalar_t* out, const scalar_t* lse,
                                    const scalar_t* grad_out, scalar_t* grad_query, scalar_t* grad_key,
                                    scalar_t* grad_values);

template <typename scalar_t>
void segment_attention_forward_cuda(const scalar_t* query, const scalar_t* key, const scalar_t* values,
                                    const int64_t* row_ptr, int64_t N, int64_t H, int64_t key_heads, int64_t C, int64_t D,
                                    scalar_t scale, scalar_t* out, scalar_t* lse, void* stream);

template <typename scalar_t>
void segment_attention_backward_cuda(const scalar_t* query, const scalar_t* key, const scalar_t* values,
                                     const int64_t* row_ptr, int64_t N, int64_t H, int64_t key_heads, int64_t C, int64_t D,
                                     scalar_t scale, const scalar_t* out, const scalar_t* lse,
                                     const scalar_t* grad_out, scalar_t* grad_query, scalar_t* grad_key,
                                     scalar_t* grad_values, void* stream);

}  // namespace ck
