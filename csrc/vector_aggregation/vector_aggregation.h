// Per-edge scalar times edge vector, summed per atom: out_i = sum_{e=(i,j)} w_e (x_i - x_j) [/ d_ij].
// ConfOpt's coordinate update, ConfGF's chain rule, ConfVAE's distance-geometry gradient and
// EGNN-style updates are all this op. Torch-free: raw pointers, int64 sizes.
//
// Edges are in CSR by destination: edges row_ptr[i] .. row_ptr[i+1] have destination i and source
// src[e]. x (N x 3), w (E), out (N x 3) are contiguous. With normalize, (x_i - x_j) is divided by
// d_ij = |x_i - x_j| (0 where d_ij = 0). No E x 3 intermediate is stored, forward or backward.
#pragma once

#include <cstdint>

namespace ck {

template <typename scalar_t>
void vector_aggregation_forward_cpu(const scalar_t* x, const scalar_t* w, const int64_t* row_ptr,
                                    const int64_t* src, int64_t N, bool normalize, scalar_t* out);

// grad_x (N x 3, may be null) and grad_w (E, may be null) of sum_i <grad_out_i, out_i>.
template <typename scalar_t>
void vector_aggregation_backward_cpu(const scalar_t* x, const scalar_t* w, const int64_t* row_ptr,
                                     const int64_t* src, int64_t N, bool normalize,
                                     const scalar_t* grad_out, scalar_t* grad_x, scalar_t* grad_w);

// CUDA versions: same contract, device pointers, `stream` is a cudaStream_t (0 = default). grad_x
// must be zero-filled by the caller (sources receive atomic adds).
template <typename scalar_t>
void vector_aggregation_forward_cuda(const scalar_t* x, const scalar_t* w, const int64_t* row_ptr,
                                     const int64_t* src, int64_t N, bool normalize, scalar_t* out,
                                     void* stream);

template <typename scalar_t>
void vector_aggregation_backward_cuda(const scalar_t* x, const scalar_t* w, const int64_t* row_ptr,
                                      const int64_t* src, int64_t N, bool normalize,
                                      const scalar_t* grad_out, scalar_t* grad_x, scalar_t* grad_w,
                                      void* stream);

}  // namespace ck
