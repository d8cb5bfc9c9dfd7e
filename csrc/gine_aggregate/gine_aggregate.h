// GINE neighbourhood aggregation (the message passing of ConfGF's GIN, PyG's GINEConv):
//   out_i = (1 + eps) h_i + sum over edges e = (i, j) of relu(h_j + attr[attr_row_e])     (C values)
// in one pass over a destination-sorted (CSR) edge list, so the (E, C) messages h_j + attr_e are
// never stored; attr is read through attr_row, so edges that share a feature row (both directions
// of a pair, edges of one type) need not have it copied out per edge.
// Torch-free: raw pointers, int64 sizes, all contiguous. h (N x C), attr (R x C), row_ptr (N + 1)
// offsets of each destination's edges, src (E) their sources in [0, N), attr_row (E) in [0, R) or
// null (edge e reads attr row e), out (N x C).
#pragma once

#include <cstdint>

namespace ck {

template <typename scalar_t>
void gine_aggregate_forward_cpu(const scalar_t* h, const scalar_t* attr, const int64_t* row_ptr, const int64_t* src,
                                const int64_t* attr_row, int64_t N, int64_t C, scalar_t eps, scalar_t* out);

// The backward, for h and for attr alike: a message's gradient is g_e = grad_out[dst_e] where
// h[src_e] + attr[attr_row_e] > 0, else 0, and
//   out_r = self_weight grad_out[r] + sum over the edges e of group r of g_e,
// the edges of group r being entries[group_ptr[r] .. group_ptr[r + 1]) (edge ids in CSR order).
// Grouped by source (self_weight 1 + eps) it is grad_h; by attr row (self_weight 0), grad_attr. One
// writer per output row: no atomics. dst (E) is each edge's destination.
template <typename scalar_t>
void gine_aggregate_grouped_grad_cpu(const scalar_t* h, const scalar_t* attr, const scalar_t* grad_out,
                                     const int64_t* dst, const int64_t* src, const int64_t* attr_row,
                                     const int64_t* group_ptr, const int64_t* entries, int64_t R, int64_t C,
                                     scalar_t self_weight, scalar_t* out);

// The forward's tangent (its Jacobian-vector product) for tangents dh (N x C) and dattr (R x C),
// either null for zero:
//   out_i = (1 + eps) dh_i + sum over edges e = (i, j) of [h_j + attr_e > 0] (dh_j + dattr_e).
// It is also the backward's derivative in grad_out (the backward is linear in it, the ReLU mask
// piecewise constant): the second-order pass of a CNF trace, without (E, C) tensors.
template <typename scalar_t>
void gine_aggregate_tangent_cpu(const scalar_t* h, const scalar_t* attr, const scalar_t* dh, const scalar_t* dattr,
                                const int64_t* row_ptr, const int64_t* src, const int64_t* attr_row, int64_t N,
                                int64_t C, scalar_t eps, scalar_t* out);

// CUDA versions: same contract, device pointers, stream a cudaStream_t.
template <typename scalar_t>
void gine_aggregate_forward_cuda(const scalar_t* h, const scalar_t* attr, const int64_t* row_ptr, const int64_t* src,
                                 const int64_t* attr_row, int64_t N, int64_t C, scalar_t eps, scalar_t* out,
                                 void* stream);

template <typename scalar_t>
void gine_aggregate_grouped_grad_cuda(const scalar_t* h, const scalar_t* attr, const scalar_t* grad_out,
                                      const int64_t* dst, const int64_t* src, const int64_t* attr_row,
                                      const int64_t* group_ptr, const int64_t* entries, int64_t R, int64_t C,
                                      scalar_t self_weight, scalar_t* out, void* stream);

template <typename scalar_t>
void gine_aggregate_tangent_cuda(const scalar_t* h, const scalar_t* attr, const scalar_t* dh, const scalar_t* dattr,
                                 const int64_t* row_ptr, const int64_t* src, const int64_t* attr_row, int64_t N,
                                 int64_t C, scalar_t eps, scalar_t* out, void* stream);

}  // namespace ck
