#include "kabsch.h"

#include "kabsch_kernel.h"

namespace ck {
namespace {

constexpr int kLanes = kCpuLanes;

// Lane groups [begin, end) (pairs kLanes * begin ..), compiled per x86-64 level and picked at load
// time (GCC function multi-versioning), as in rmsd_matrix_cpu.cpp.
template <typename scalar_t>
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void kabsch_groups(const scalar_t* P, const scalar_t* Q, const scalar_t* weights, const int64_t* ptr, int64_t begin,
                   int64_t end, scalar_t* R, scalar_t* p_centroid, scalar_t* q_centroid, scalar_t* sse) {
  for (int64_t k = begin; k < end; ++k)
    kabsch_lanes<kLanes>(P, Q, weights, ptr, k * kLanes, R, p_centroid, q_centroid, sse);
}

}  // namespace

template <typename scalar_t>
void kabsch_forward_cpu(const scalar_t* P, const scalar_t* Q, const scalar_t* weights,
                        const int64_t* ptr, int64_t B, scalar_t* R, scalar_t* p_centroid,
                        scalar_t* q_centroid, scalar_t* sse) {
  const int64_t groups = B / kLanes, chunk = 8;
#pragma omp parallel for schedule(static) if (B > 256)
  for (int64_t start = 0; start < groups; start += chunk)
    kabsch_groups(P, Q, weights, ptr, start, start + chunk < groups ? start + chunk : groups, R, p_centroid,
                  q_centroid, sse);
  for (int64_t b = groups * kLanes; b < B; ++b) {  // the last B mod kLanes pairs, one at a time
    const int64_t start = ptr[b];
    kabsch_pair(P + 3 * start, Q + 3 * start, weights ? weights + start : nullptr, ptr[b + 1] - start,
                R + 9 * b, p_centroid + 3 * b, q_centroid + 3 * b, sse + b);
  }
}

template <typename scalar_t>
void aligned_sse_backward_cpu(const scalar_t* P, const scalar_t* Q, const scalar_t* weights,
                              const int64_t* ptr, int64_t B, const scalar_t* R,
                              const scalar_t* p_centroid, const scalar_t* q_centroid,
                              const scalar_t* grad_sse, scalar_t* grad_P, scalar_t* grad_Q) {
#pragma omp parallel for schedule(static) if (B > 256)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = ptr[b]; i < ptr[b + 1]; ++i) {
      aligned_sse_backward_atom(P + 3 * i, Q + 3 * i, weights ? weights[i] : scalar_t(1), R + 9 * b,
                                p_centroid + 3 * b, q_centroid + 3 * b, grad_sse[b],
                                grad_P ? grad_P + 3 * i : nullptr, grad_Q ? grad_Q + 3 * i : nullptr);
    }
  }
}

#define CK_INSTANTIATE(T)                                                                      \
  template void kabsch_forward_cpu<T>(const T*, const T*, const T*, const int64_t*, int64_t, T*, \
                                      T*, T*, T*);                                             \
  template void aligned_sse_backward_cpu<T>(const T*, const T*, const T*, const int64_t*, int64_t, \
                                            const T*, const T*, const T*, const T*, T*, T*);
CK_INSTANTIATE(float)
CK_INSTANTIATE(double)
#undef CK_INSTANTIATE

}  // namespace ck
