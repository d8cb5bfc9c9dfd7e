#include "symmetric_rmsd.h"

#include "symmetric_rmsd_kernel.h"

namespace ck {

template <typename scalar_t>
void symmetric_sse_cpu(const scalar_t* P, const scalar_t* Q, const int64_t* ptr, int64_t B,
                       const int64_t* perms, const int64_t* perm_offset, const int64_t* perm_count,
                       scalar_t* sse, int64_t* best) {
#pragma omp parallel for schedule(dynamic, 16) if (B > 64)
  for (int64_t b = 0; b < B; ++b)
    symmetric_sse_pair(P, Q, ptr, perms, perm_offset, perm_count, b, sse, best);
}

template void symmetric_sse_cpu<float>(const float*, const float*, const int64_t*, int64_t,
                                       const int64_t*, const int64_t*, const int64_t*, float*,
                                       int64_t*);
template void symmetric_sse_cpu<double>(const double*, const double*, const int64_t*, int64_t,
                                        const int64_t*, const int64_t*, const int64_t*, double*,
                                        int64_t*);

}  // namespace ck
