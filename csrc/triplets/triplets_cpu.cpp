#include <algorithm>
#include <vector>

#include "triplets.h"
#include "triplets_kernel.h"

namespace ck {
namespace {

// Runs body(t, i, scattered) over all triplets, rows split across threads; `scattered` is a
// per-thread N x 3 buffer summed into grad_x at the end (j and k are shared between rows).
template <typename scalar_t, typename Body>
void scatter_rows(const int64_t* row_ptr, int64_t N, scalar_t* grad_x, Body body) {
  if (grad_x) std::fill(grad_x, grad_x + 3 * N, scalar_t(0));
#pragma omp parallel if (N > 64)
  {
    std::vector<scalar_t> scattered(grad_x ? 3 * N : 0, scalar_t(0));
#pragma omp for schedule(dynamic, 16)
    for (int64_t i = 0; i < N; ++i)
      for (int64_t t = row_ptr[i]; t < row_ptr[i + 1]; ++t) body(t, i, scattered.data());
    if (grad_x) {
#pragma omp critical
      for (int64_t c = 0; c < 3 * N; ++c) grad_x[c] += scattered[c];
    }
  }
}

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
  for (int64_t i = 0; i < N; ++i) {
    scalar_t acc[3] = {0, 0, 0};
    for (int64_t t = row_ptr[i]; t < row_ptr[i + 1]; ++t) {
      scalar_t rj[3], rk[3];
      triplet_vectors(x, i, j[t], k[t], rj, rk);
      for (int c = 0; c < 3; ++c) acc[c] += f[t] * rj[c] + g[t] * rk[c];
    }
    for (int c = 0; c < 3; ++c) out[3 * i + c] = acc[c];
  }
}

template <typename scalar_t>
void triplet_aggregation_backward_cpu(const scalar_t* x, const int64_t* row_ptr, const int64_t* j, const int64_t* k,
                                      int64_t N, const scalar_t* f, const scalar_t* g, const scalar_t* grad_out,
                                      scalar_t* grad_x, scalar_t* grad_f, scalar_t* grad_g) {
  scatter_rows<scalar_t>(row_ptr, N, grad_x, [&](int64_t t, int64_t i, scalar_t* gx) {
    scalar_t rj[3], rk[3];
    triplet_vectors(x, i, j[t], k[t], rj, rk);
    const scalar_t* go = grad_out + 3 * i;
    if (grad_f) grad_f[t] = go[0] * rj[0] + go[1] * rj[1] + go[2] * rj[2];
    if (grad_g) grad_g[t] = go[0] * rk[0] + go[1] * rk[1] + go[2] * rk[2];
    if (grad_x) {
      const scalar_t grj[3] = {f[t] * go[0], f[t] * go[1], f[t] * go[2]};
      const scalar_t grk[3] = {g[t] * go[0], g[t] * go[1], g[t] * go[2]};
      add_pair(gx, i, j[t], k[t], grj, grk);
    }
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
