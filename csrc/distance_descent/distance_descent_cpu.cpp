#include <algorithm>

#include "distance_descent.h"
#include "distance_descent_kernel.h"

namespace ck {

template <typename scalar_t>
void distance_descent_forward_cpu(const scalar_t* d, const int64_t* row_ptr, const int64_t* src, int64_t N,
                                  int64_t steps, scalar_t lr, scalar_t* states) {
#pragma omp parallel if (row_ptr[N] > 2048)
  for (int64_t t = 0; t < steps; ++t) {  // every thread runs the step loop; the for's barrier orders the steps
    const scalar_t* x = states + t * N * 3;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < N; ++i) descent_atom(x, d, row_ptr, src, i, lr, states + (t + 1) * N * 3);
  }
}

template <typename scalar_t>
void distance_descent_backward_cpu(const scalar_t* states, const scalar_t* d, const int64_t* row_ptr,
                                   const int64_t* src, const int64_t* dst, const int64_t* col_ptr,
                                   const int64_t* col_edges, int64_t N, int64_t steps, scalar_t lr,
                                   scalar_t* grad_x, scalar_t* grad_d, scalar_t* scratch) {
  scalar_t* lambda = grad_x;
  scalar_t* next = scratch;
#pragma omp parallel if (row_ptr[N] > 2048)
  for (int64_t t = steps - 1; t >= 0; --t) {
    const scalar_t* x = states + t * N * 3;
#pragma omp for schedule(static)
    for (int64_t k = 0; k < N; ++k)
      adjoint_atom(x, d, row_ptr, src, dst, col_ptr, col_edges, k, lr, lambda, next, grad_d);
#pragma omp single
    std::swap(lambda, next);  // the single's barrier publishes the swap to every thread
  }
  if (lambda != grad_x) std::copy(lambda, lambda + 3 * N, grad_x);
}

#define CK_INSTANTIATE(T)                                                                                        \
  template void distance_descent_forward_cpu<T>(const T*, const int64_t*, const int64_t*, int64_t, int64_t, T,   \
                                                T*);                                                             \
  template void distance_descent_backward_cpu<T>(const T*, const T*, const int64_t*, const int64_t*,             \
                                                 const int64_t*, const int64_t*, const int64_t*, int64_t,        \
                                                 int64_t, T, T*, T*, T*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
