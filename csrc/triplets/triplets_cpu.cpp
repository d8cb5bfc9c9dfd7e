#include "../common/scatter_rows.h"
#include "triplets.h"
#include "triplets_kernel.h"

namespace ck {
namespace {

template <typename scalar_t>
void add_pair(scalar_t* gx, int64_t i, int64_t j, int64_t k, const scalar_t grj[3], const scalar_t grk[3]) {
  for (int c = 0; c < 3; ++c) {
    gx[3 * i + c] += grj[c] + grk[c];
    gx[3 * j + c] -= grj[c];
    gx[3 * k + c] -= grk[c];
  }
}

}  // namespace

template <typename scalar_t>
void triplet_geometry_forward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                  int64_t N, scalar_t* d_ij, scalar_t* d_ik, scalar_t* dot) {
#pragma omp parallel for schedule(dynamic, 16) if (N > 64)
  for (int64_t i = 0; i < N; ++i)
    for (int64_t t = row_ptr[i]; t < row_ptr[i + 1]; ++t) triplet_geometry_one(x, i, j[t], k[t], d_ij + t, d_ik + t, dot + t);
}

template <typename scalar_t>
void triplet_geometry_backward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                   int64_t N, const scalar_t* g_dij, const scalar_t* g_dik, const scalar_t* g_dot,
                                   scalar_t* grad_x) {
  scatter_rows<scalar_t>(row_ptr, N, grad_x, [&](int64_t t, int64_t i, scalar_t* gx) {
    scalar_t grj[3], grk[3];
    triplet_geometry_grad(x, i, j[t], k[t], g_dij ? g_dij[t] : scalar_t(0), g_dik ? g_dik[t] : scalar_t(0),
                          g_dot ? g_dot[t] : scalar_t(0), grj, grk);
    add_pair(gx, i, j[t], k[t], grj, grk);
  });
}

template <typename scalar_t>
void triplet_aggregation_forward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                     int64_t N, const scalar_t* f, const scalar_t* g, scalar_t* out) {
#pragma omp parallel for schedule(dynamic, 16) if (N > 64)
  for (int64_t i = 0; i < N; ++i) triplet_aggregate_row(x, j, k, f, g, row_ptr[i], row_ptr[i + 1], i, out + 3 * i);
}

template <typename scalar_t>
void triplet_aggregation_backward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                      int64_t N, const scalar_t* f, const scalar_t* g, const scalar_t* grad_out,
                                      scalar_t* grad_x, scalar_t* grad_f, scalar_t* grad_g) {
  scatter_rows<scalar_t>(row_ptr, N, grad_x, [&](int64_t t, int64_t i, scalar_t* gx) {
    scalar_t grj[3], grk[3];
    triplet_aggregate_grad(x, i, j[t], k[t], f[t], g[t], grad_out + 3 * i, grad_f ? grad_f + t : nullptr,
                           grad_g ? grad_g + t : nullptr, grj, grk);
    if (grad_x) add_pair(gx, i, j[t], k[t], grj, grk);
  });
}

#define CK_INSTANTIATE(T)                                                                                          \
  template void triplet_geometry_forward_cpu<T>(const T*, const int64_t*, const int64_t*, const int64_t*, int64_t, \
                                                T*, T*, T*);                                                       \
  template void triplet_geometry_backward_cpu<T>(const T*, const int64_t*, const int64_t*, const int64_t*, int64_t, \
                                                 const T*, const T*, const T*, T*);                                \
  template void triplet_aggregation_forward_cpu<T>(const T*, const int64_t*, const int64_t*, const int64_t*,       \
                                                   int64_t, const T*, const T*, T*);                               \
  template void triplet_aggregation_backward_cpu<T>(const T*, const int64_t*, const int64_t*, const int64_t*,      \
                                                    int64_t, const T*, const T*, const T*, T*, T*, T*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
