#include "gine_aggregate.h"
#include "gine_aggregate_kernel.h"

namespace ck {

namespace {

// row += relu(h + a) over C columns; restrict lets the compiler vectorize it.
template <typename scalar_t>
inline void add_message(scalar_t* __restrict__ row, const scalar_t* __restrict__ h, const scalar_t* __restrict__ a,
                        int64_t C) {
  for (int64_t c = 0; c < C; ++c) row[c] += gine_message(h[c], a[c]);
}

template <typename scalar_t>
inline void add_message_grad(scalar_t* __restrict__ row, const scalar_t* __restrict__ g,
                             const scalar_t* __restrict__ h, const scalar_t* __restrict__ a, int64_t C) {
  for (int64_t c = 0; c < C; ++c) row[c] += gine_message_grad(g[c], h[c], a[c]);
}

template <typename scalar_t>
inline void scaled_copy(scalar_t* __restrict__ row, const scalar_t* __restrict__ x, scalar_t w, int64_t C) {
  for (int64_t c = 0; c < C; ++c) row[c] = w * x[c];
}

// row += the tangent of one message (dh or da null: zero; kHas* make the branch compile-time).
template <bool kHasDh, bool kHasDattr, typename scalar_t>
inline void add_message_tangent(scalar_t* __restrict__ row, const scalar_t* __restrict__ h,
                                const scalar_t* __restrict__ a, const scalar_t* __restrict__ dh,
                                const scalar_t* __restrict__ da, int64_t C) {
  for (int64_t c = 0; c < C; ++c)
    row[c] += gine_message_tangent(h[c], a[c], kHasDh ? dh[c] : scalar_t(0), kHasDattr ? da[c] : scalar_t(0));
}

// The tangent over all rows, specialised on which tangents are present so that the inner loop is
// branch-free and vectorizes (a null tangent counts as zero).
template <bool kHasDh, bool kHasDattr, typename scalar_t>
void tangent_rows(const scalar_t* h, const scalar_t* attr, const scalar_t* dh, const scalar_t* dattr,
                  const int64_t* row_ptr, const int64_t* src, const int64_t* attr_row, int64_t N, int64_t C,
                  scalar_t eps, scalar_t* out) {
#pragma omp parallel for schedule(static) if (row_ptr[N] * C > 65536)
  for (int64_t i = 0; i < N; ++i) {
    scalar_t* row = out + i * C;
    for (int64_t c = 0; c < C; ++c) row[c] = kHasDh ? (scalar_t(1) + eps) * dh[i * C + c] : scalar_t(0);
    for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) {
      const int64_t j = src[e] * C, a = (attr_row ? attr_row[e] : e) * C;
      add_message_tangent<kHasDh, kHasDattr>(row, h + j, attr + a, kHasDh ? dh + j : nullptr,
                                             kHasDattr ? dattr + a : nullptr, C);
    }
  }
}

}  // namespace

template <typename scalar_t>
void gine_aggregate_forward_cpu(const scalar_t* h, const scalar_t* attr, const int64_t* row_ptr, const int64_t* src,
                                const int64_t* attr_row, int64_t N, int64_t C, scalar_t eps, scalar_t* out) {
#pragma omp parallel for schedule(static) if (row_ptr[N] * C > 65536)
  for (int64_t i = 0; i < N; ++i) {
    scalar_t* row = out + i * C;
    scaled_copy(row, h + i * C, scalar_t(1) + eps, C);
    for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e)
      add_message(row, h + src[e] * C, attr + (attr_row ? attr_row[e] : e) * C, C);
  }
}

template <typename scalar_t>
void gine_aggregate_grouped_grad_cpu(const scalar_t* h, const scalar_t* attr, const scalar_t* grad_out,
                                     const int64_t* dst, const int64_t* src, const int64_t* attr_row,
                                     const int64_t* group_ptr, const int64_t* entries, int64_t R, int64_t C,
                                     scalar_t self_weight, scalar_t* out) {
#pragma omp parallel for schedule(dynamic, 16) if (group_ptr[R] * C > 65536)
  for (int64_t r = 0; r < R; ++r) {
    scalar_t* row = out + r * C;
    if (self_weight != scalar_t(0)) {
      scaled_copy(row, grad_out + r * C, self_weight, C);
    } else {
      for (int64_t c = 0; c < C; ++c) row[c] = scalar_t(0);
    }
    for (int64_t p = group_ptr[r]; p < group_ptr[r + 1]; ++p) {
      const int64_t e = entries[p];
      add_message_grad(row, grad_out + dst[e] * C, h + src[e] * C, attr + (attr_row ? attr_row[e] : e) * C, C);
    }
  }
}

template <typename scalar_t>
void gine_aggregate_tangent_cpu(const scalar_t* h, const scalar_t* attr, const scalar_t* dh, const scalar_t* dattr,
                                const int64_t* row_ptr, const int64_t* src, const int64_t* attr_row, int64_t N,
                                int64_t C, scalar_t eps, scalar_t* out) {
  const auto rows = dh ? (dattr ? tangent_rows<true, true, scalar_t> : tangent_rows<true, false, scalar_t>)
                       : (dattr ? tangent_rows<false, true, scalar_t> : tangent_rows<false, false, scalar_t>);
  rows(h, attr, dh, dattr, row_ptr, src, attr_row, N, C, eps, out);
}

#define CK_INSTANTIATE(T)                                                                                         \
  template void gine_aggregate_forward_cpu<T>(const T*, const T*, const int64_t*, const int64_t*, const int64_t*, \
                                              int64_t, int64_t, T, T*);                                           \
  template void gine_aggregate_grouped_grad_cpu<T>(const T*, const T*, const T*, const int64_t*, const int64_t*,  \
                                                   const int64_t*, const int64_t*, const int64_t*, int64_t,       \
                                                   int64_t, T, T*);                                               \
  template void gine_aggregate_tangent_cpu<T>(const T*, const T*, const T*, const T*, const int64_t*,             \
                                              const int64_t*, const int64_t*, int64_t, int64_t, T, T*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
