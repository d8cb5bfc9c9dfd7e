// Per-edge geometry in one pass: distance d = |x_i - x_j|, unit vector u = (x_i - x_j) / d, and a
// Gaussian radial-basis expansion rbf_k = exp(-gamma (f - c_k)^2) * cut(d) with f = d (or d^2,
// ConfOpt's features) and a smooth cosine cutoff cut(d) = (cos(pi d / rc) + 1) / 2 for d < rc,
// 0 beyond (no cutoff when rc <= 0). Torch-free: raw pointers, int64 sizes.
//
// Edges in CSR by destination (row_ptr, N + 1) with sources src (E). Outputs (caller-allocated):
// dist (E), unit (E x 3), rbf (E x K).
#pragma once

#include <cstdint>

namespace ck {

struct RbfParams {
  int64_t K;        // number of centres
  double gamma;     // 1 / (2 width^2)
  double cutoff;    // rc in Angstrom; <= 0 for none
  bool squared;     // expand d^2 instead of d
};

template <typename scalar_t>
void edge_geometry_forward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* src, int64_t N,
                               const scalar_t* centers, RbfParams p, scalar_t* dist, scalar_t* unit,
                               scalar_t* rbf);

// grad_x (N x 3) of sum <grad_dist, dist> + <grad_unit, unit> + <grad_rbf, rbf>; any grad may be null.
template <typename scalar_t>
void edge_geometry_backward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* src, int64_t N,
                                const scalar_t* centers, RbfParams p, const scalar_t* grad_dist,
                                const scalar_t* grad_unit, const scalar_t* grad_rbf, scalar_t* grad_x);

template <typename scalar_t>
void edge_geometry_forward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* src, int64_t N,
                                const scalar_t* centers, RbfParams p, scalar_t* dist, scalar_t* unit,
                                scalar_t* rbf, void* stream);

// grad_x must be zero-filled by the caller (atomic adds).
template <typename scalar_t>
void edge_geometry_backward_cuda(const scalar_t* x, const int64_t* row_ptr, const int64_t* src, int64_t N,
                                 const scalar_t* centers, RbfParams p, const scalar_t* grad_dist,
                                 const scalar_t* grad_unit, const scalar_t* grad_rbf, scalar_t* grad_x,
                                 void* stream);

}  // namespace ck
