// Per-element math of gine_aggregate, shared by the CPU loops and the CUDA kernels. Arithmetic
// selects, not branches: the sign of a message is random, and a branch per element mispredicts
// half the time (see gather_layer_norm_kernel.h).
#pragma once

#include "../common/macros.h"

namespace ck {

template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t gine_message(scalar_t h_src, scalar_t attr) {
  const scalar_t m = h_src + attr;
  return m > scalar_t(0) ? m : scalar_t(0);
}

// The gradient reaching h_src + attr from the destination's output gradient g. Kept a ternary:
// GCC vectorizes this one as a select, while the tangent's product form, tried here, ran 19x
// slower (1.65 ms vs 87 us per backward, 594 atoms, 4582 edges, C = 64).
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t gine_message_grad(scalar_t g, scalar_t h_src, scalar_t attr) {
  return h_src + attr > scalar_t(0) ? g : scalar_t(0);
}

// The tangent of a message for tangents dh_src, da of its inputs (ReLU's derivative a.e.).
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t gine_message_tangent(scalar_t h_src, scalar_t attr, scalar_t dh_src, scalar_t da) {
  const scalar_t open = h_src + attr > scalar_t(0) ? scalar_t(1) : scalar_t(0);  // a select, then a product
  return open * (dh_src + da);
}

}  // namespace ck
