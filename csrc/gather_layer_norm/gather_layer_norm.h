// The first layer of an MLP whose input is a concatenation of gathered and scalar features, fused
// with its LayerNorm and ReLU:
//   out_m = act(LayerNorm(pre_m) * gamma + beta),  pre_m = sum_b w_mb table[index_mb]   (C values)
// A Linear of [h_j, e_ij, rbf_ij] is such a gather-sum once its weight is split by input: rows of
// (h W_h^T), of (pair_table W_e^T), columns of W_rbf scaled by the basis values, the bias with
// weight 1. So no (M, C_in) input, no (M, C) pre-activation and no normalized copy is stored: the
// forward keeps the per-row mean and 1/std and the backward recomputes pre_m from the gathers.
// Torch-free: raw pointers, int64 sizes. table (R x C), index (M x B) int64 in [0, R),
// weight (M x B) or null (all ones), gamma/beta (C), out (M x C), mean/rstd (M), all contiguous.
#pragma once

#include <cstdint>

namespace ck {

template <typename scalar_t>
void gather_layer_norm_forward_cpu(const scalar_t* table, const int64_t* index, const scalar_t* weight,
                                   const scalar_t* gamma, const scalar_t* beta, int64_t M, int64_t B, int64_t C,
                                   scalar_t eps, bool relu, scalar_t* out, scalar_t* mean, scalar_t* rstd);

// Pass 1 of the backward, per row: grad_pre (M x C, the gradient reaching pre_m), grad_weight
// (M x B, may be null) and grad_gamma, grad_beta (C, may be null; overwritten).
template <typename scalar_t>
void gather_layer_norm_backward_cpu(const scalar_t* table, const int64_t* index, const scalar_t* weight,
                                    const scalar_t* gamma, const scalar_t* beta, const scalar_t* mean,
                                    const scalar_t* rstd, const scalar_t* grad_out, int64_t M, int64_t B, int64_t C,
                                    bool relu, scalar_t* grad_pre, scalar_t* grad_weight, scalar_t* grad_gamma,
                                    scalar_t* grad_beta);

// Pass 2: grad_table_r = sum of w_mb grad_pre_m over the entries (m, b) with index_mb = r, given
// those entries grouped by row: entry_ptr (R + 1) offsets into entries (flat m * B + b). No atomics.
template <typename scalar_t>
void gather_table_backward_cpu(const scalar_t* grad_pre, const scalar_t* weight, const int64_t* entry_ptr,
                               const int64_t* entries, int64_t R, int64_t B, int64_t C, scalar_t* grad_table);

// CUDA versions: same contract, device pointers, stream a cudaStream_t. grad_gamma and grad_beta
// must be zero-filled by the caller (blocks add their partial sums atomically).
template <typename scalar_t>
void gather_layer_norm_forward_cuda(const scalar_t* table, const int64_t* index, const scalar_t* weight,
                                    const scalar_t* gamma, const scalar_t* beta, int64_t M, int64_t B, int64_t C,
                                    scalar_t eps, bool relu, scalar_t* out, scalar_t* mean, scalar_t* rstd,
                                    void* stream);

template <typename scalar_t>
void gather_layer_norm_backward_cuda(const scalar_t* table, const int64_t* index, const scalar_t* weight,
                                     const scalar_t* gamma, const scalar_t* beta, const scalar_t* mean,
                                     const scalar_t* rstd, const scalar_t* grad_out, int64_t M, int64_t B, int64_t C,
                                     bool relu, scalar_t* grad_pre, scalar_t* grad_weight, scalar_t* grad_gamma,
                                     scalar_t* grad_beta, void* stream);

template <typename scalar_t>
void gather_table_backward_cuda(const scalar_t* grad_pre, const scalar_t* weight, const int64_t* entry_ptr,
                                const int64_t* entries, int64_t R, int64_t B, int64_t C, scalar_t* grad_table,
                                void* stream);

}  // namespace ck
