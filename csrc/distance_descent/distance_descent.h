// Gradient descent on the distance-geometry energy, unrolled, with its exact backward (ConfVAE's
// inner loop):
//   x_{t+1} = x_t - lr g(x_t),   g_i = sum over edges e = (i, j) of 2 (s_e - d_e) n_e,
//   s_e = |x_i - x_j|, n_e = (x_i - x_j) / s_e,
// for t = 0 .. steps - 1 (with both directions of a pair listed, g is the gradient of
// H = sum over pairs (s - d)^2). The backward runs the steps in reverse with the adjoint
// lambda_t = lambda_{t+1} - lr J_g(x_t)^T lambda_{t+1}, J_g's blocks the closed-form edge Hessians
//   M_e = 2 [n n^T + (s - d) / s (I - n n^T)],
// and grad_d_e = sum_t 2 lr n_e(x_t) . lambda_{t+1, i}: one pass over the edges per step, nothing
// per edge stored (only the steps' positions, steps x N x 3). Coincident atoms (s = 0) contribute
// nothing, as in vector_aggregation.
// Torch-free: raw pointers, int64 sizes, contiguous. Edges in CSR order by destination: row_ptr
// (N + 1), src (E); d (E) per edge in that order.
#pragma once

#include <cstdint>

namespace ck {

// states ((steps + 1) x N x 3): states[0] is x_0 (input); writes states[1 .. steps].
template <typename scalar_t>
void distance_descent_forward_cpu(const scalar_t* d, const int64_t* row_ptr, const int64_t* src, int64_t N,
                                  int64_t steps, scalar_t lr, scalar_t* states);

// grad_x (N x 3): in, the gradient reaching x_steps; out, the one reaching x_0. grad_d (E):
// zero-filled by the caller, accumulated. scratch: N x 3. Edges also grouped by source: col_ptr (N + 1) offsets into col_edges
// (E, CSR edge ids); dst (E) each edge's destination.
template <typename scalar_t>
void distance_descent_backward_cpu(const scalar_t* states, const scalar_t* d, const int64_t* row_ptr,
                                   const int64_t* src, const int64_t* dst, const int64_t* col_ptr,
                                   const int64_t* col_edges, int64_t N, int64_t steps, scalar_t lr,
                                   scalar_t* grad_x, scalar_t* grad_d, scalar_t* scratch);

// CUDA versions: same contract, device pointers, stream a cudaStream_t.
template <typename scalar_t>
void distance_descent_forward_cuda(const scalar_t* d, const int64_t* row_ptr, const int64_t* src, int64_t N,
                                   int64_t steps, scalar_t lr, scalar_t* states, void* stream);

template <typename scalar_t>
void distance_descent_backward_cuda(const scalar_t* states, const scalar_t* d, const int64_t* row_ptr,
                                    const int64_t* src, const int64_t* dst, const int64_t* col_ptr,
                                    const int64_t* col_edges, int64_t N, int64_t steps, scalar_t lr,
                                    scalar_t* grad_x, scalar_t* grad_d, scalar_t* scratch, void* stream);

}  // namespace ck
