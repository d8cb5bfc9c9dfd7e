// Batched optimal superposition (quaternion method). Torch-free: raw pointers, int64 sizes.
//
// A batch is B pairs of point sets in ragged layout: pair b owns rows ptr[b] .. ptr[b+1] of
// P and Q (each total x 3, row-major, contiguous). weights (total) may be null (all ones).
// Outputs (caller-allocated): R (B x 3 x 3, R p ~ q), p_centroid, q_centroid (B x 3) and
// sse (B): the minimal weighted sum of squared deviations.
#pragma once

#include <cstdint>

namespace ck {

template <typename scalar_t>
void kabsch_forward_cpu(const scalar_t* P, const scalar_t* Q, const scalar_t* weights,
                        const int64_t* ptr, int64_t B, scalar_t* R, scalar_t* p_centroid,
                        scalar_t* q_centroid, scalar_t* sse);

// grad_P / grad_Q (total x 3; either may be null) of sum_b grad_sse[b] * sse[b], rotation fixed.
template <typename scalar_t>
void aligned_sse_backward_cpu(const scalar_t* P, const scalar_t* Q, const scalar_t* weights,
                              const int64_t* ptr, int64_t B, const scalar_t* R,
                              const scalar_t* p_centroid, const scalar_t* q_centroid,
                              const scalar_t* grad_sse, scalar_t* grad_P, scalar_t* grad_Q);

// CUDA versions: same contract, device pointers, `stream` is a cudaStream_t (0 = default).
template <typename scalar_t>
void kabsch_forward_cuda(const scalar_t* P, const scalar_t* Q, const scalar_t* weights,
                         const int64_t* ptr, int64_t B, scalar_t* R, scalar_t* p_centroid,
                         scalar_t* q_centroid, scalar_t* sse, void* stream);

template <typename scalar_t>
void aligned_sse_backward_cuda(const scalar_t* P, const scalar_t* Q, const scalar_t* weights,
                               const int64_t* ptr, int64_t B, int64_t total, const scalar_t* R,
                               const scalar_t* p_centroid, const scalar_t* q_centroid,
                               const scalar_t* grad_sse, scalar_t* grad_P, scalar_t* grad_Q,
                               void* stream);

}  // namespace ck
