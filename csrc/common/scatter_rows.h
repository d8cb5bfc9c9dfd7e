// CPU (OpenMP) loop of the edge-family backward kernels: work is split by destination row, and
// the gradient with respect to shared source atoms goes to a per-thread N x 3 buffer, so no two
// threads write one address and no atomics are needed. Rows are split statically and the buffers
// summed into grad_x in thread order: the same sums, bit for bit, on every run with one thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "omp_threads.h"

namespace ck {

// Calls body(e, i, scattered) for every item e of every row i (row_ptr, N + 1 entries); body adds
// its gradient contributions into `scattered` (N x 3, this thread's). grad_x (N x 3) may be null:
// then `scattered` is empty and body must not write to it.
template <typename scalar_t, typename Body>
void scatter_rows(const int64_t* row_ptr, int64_t N, scalar_t* grad_x, Body body) {
  if (grad_x) std::fill(grad_x, grad_x + 3 * N, scalar_t(0));
  const bool parallel = N > 64;
  std::vector<std::vector<scalar_t>> partial(parallel ? omp_max_threads() : 1);
#pragma omp parallel if (parallel)
  {
    std::vector<scalar_t>& scattered = partial[omp_thread_id()];
    scattered.assign(grad_x ? 3 * N : 0, scalar_t(0));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < N; ++i)
      for (int64_t e = row_ptr[i]; e < row_ptr[i + 1]; ++e) body(e, i, scattered.data());
  }
  if (!grad_x) return;
  for (const auto& scattered : partial)  // thread order; a thread never started left its buffer empty
    for (size_t c = 0; c < scattered.size(); ++c) grad_x[c] += scattered[c];
}

}  // namespace ck
