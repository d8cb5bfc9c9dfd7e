// Three-atom terms over triplets (i, j, k), grouped by i in CSR (row_ptr, N + 1; j[t], k[t]):
// - geometry: d_ij, d_ik and <r_ij, r_ik> with r_ij = x_i - x_j (ConfOpt ThreeAtom's features);
// - aggregation: out_i = sum_t f_t (x_i - x_j) + g_t (x_i - x_k) (its coordinate update).
// Both with explicit backward; no (T x 3) intermediate is stored. Torch-free: raw pointers.
#pragma once

#include <cstdint>

namespace ck {

template <typename scalar_t>
void triplet_geometry_forward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                  int64_t N, scalar_t* d_ij, scalar_t* d_ik, scalar_t* dot);
// grad_x (N x 3) of sum g_dij d_ij + g_dik d_ik + g_dot dot; any grad may be null.
template <typename scalar_t>
void triplet_geometry_backward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                   int64_t N, const scalar_t* g_dij, const scalar_t* g_dik, const scalar_t* g_dot,
                                   scalar_t* grad_x);
template <typename scalar_t>
void triplet_aggregation_forward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                     int64_t N, const scalar_t* f, const scalar_t* g, scalar_t* out);
// grad_x (N x 3), grad_f, grad_g (T) of sum <grad_out, out>; any output may be null.
template <typename scalar_t>
void triplet_aggregation_backward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                      int64_t N, const scalar_t* f, const scalar_t* g, const scalar_t* grad_out,
                                      scalar_t* grad_x, scalar_t* grad_f, scalar_t* grad_g);

// CUDA: same contracts, device pointers, stream = cudaStream_t; grad_x zero-filled by the caller.
template <typename scalar_t>
void triplet_geometry_forward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                   int64_t N, scalar_t* d_ij, scalar_t* d_ik, scalar_t* dot, void* stream);
template <typename scalar_t>
void triplet_geometry_backward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                    int64_t N, const scalar_t* g_dij, const scalar_t* g_dik, const scalar_t* g_dot,
                                    scalar_t* grad_x, void* stream);
template <typename scalar_t>
void triplet_aggregation_forward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                      int64_t N, const scalar_t* f, const scalar_t* g, scalar_t* out, void* stream);
template <typename scalar_t>
void triplet_aggregation_backward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                       int64_t N, const scalar_t* f, const scalar_t* g, const scalar_t* grad_out,
                                       scalar_t* grad_x, scalar_t* grad_f, scalar_t* grad_g, void* stream);

}  // namespace ck
