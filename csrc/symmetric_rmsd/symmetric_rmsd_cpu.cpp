#include "symmetric_rmsd.h"

#include "symmetric_rmsd_kernel.h"

namespace ck {
namespace {

constexpr int kLanes = kCpuLanes;

// Lane groups [begin, end) (pairs kLanes * begin ..), compiled per x86-64 level (target_clones).
template <typename scalar_t>
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void symmetric_sse_groups(const scalar_t* P, const scalar_t* Q, const int64_t* ptr, const int64_t* perms,
                          const int64_t* perm_offset, const int64_t* perm_count, int64_t begin, int64_t end,
                          scalar_t* sse, int64_t* best) {
  for (int64_t k = begin; k < end; ++k)
    symmetric_sse_lanes<kLanes>(P, Q, ptr, perms, perm_offset, perm_count, k * kLanes, sse, best);
}

}  // namespace

template <typename scalar_t>
void symmetric_sse_cpu(const scalar_t* P, const scalar_t* Q, const int64_t* ptr, int64_t B,
                       const int64_t* perms, const int64_t* perm_offset, const int64_t* perm_count,
                       scalar_t* sse, int64_t* best) {
  const int64_t groups = B / kLanes;
#pragma omp parallel for schedule(dynamic, 1) if (B > 64)
  for (int64_t k = 0; k < groups; ++k)
    symmetric_sse_groups(P, Q, ptr, perms, perm_offset, perm_count, k, k + 1, sse, best);
  for (int64_t b = groups * kLanes; b < B; ++b)  // the last B mod kLanes pairs, one at a time
    symmetric_sse_pair(P, Q, ptr, perms, perm_offset, perm_count, b, sse, best);
}

template void symmetric_sse_cpu<float>(const float*, const float*, const int64_t*, int64_t,
                                       const int64_t*, const int64_t*, const int64_t*, float*,
                                       int64_t*);
template void symmetric_sse_cpu<double>(const double*, const double*, const int64_t*, int64_t,
                                        const int64_t*, const int64_t*, const int64_t*, double*,
                                        int64_t*);

}  // namespace ck
