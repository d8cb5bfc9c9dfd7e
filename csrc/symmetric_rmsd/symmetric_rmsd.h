// Symmetry-aware aligned RMSD of pairs: min over atom permutations and rigid motions.
//
// Pair b owns rows ptr[b] .. ptr[b+1] of P and Q (total x 3, row-major). Its permutations are the
// perm_count[b] rows of length n_b = ptr[b+1] - ptr[b] stored from perms + perm_offset[b], with
// indices local to the pair; P's atom perm[i] is paired with Q's atom i. perm_count[b] == 0 means
// the identity. Outputs: sse (B), the minimal unweighted sum of squared deviations, and
// best (B), the row of the permutation that attains it.
#pragma once

#include <cstdint>

namespace ck {

template <typename scalar_t>
void symmetric_sse_cpu(const scalar_t* P, const scalar_t* Q, const int64_t* ptr, int64_t B,
                       const int64_t* perms, const int64_t* perm_offset, const int64_t* perm_count,
                       scalar_t* sse, int64_t* best);

template <typename scalar_t>
void symmetric_sse_cuda(const scalar_t* P, const scalar_t* Q, const int64_t* ptr, int64_t B,
                        const int64_t* perms, const int64_t* perm_offset, const int64_t* perm_count,
                        scalar_t* sse, int64_t* best, void* stream);

}  // namespace ck
