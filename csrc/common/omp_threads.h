// OpenMP thread count and id that also compile without OpenMP (one thread), for the kernels that
// keep per-thread partial sums and add them in thread order: with a static partition of the work,
// the same thread count then gives the same floating-point sums on every run.
#pragma once

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ck {

inline int omp_max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int omp_thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace ck
