// Bindings of distance_descent: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include "../distance_descent/distance_descent.h"

namespace {

void check_descent(const torch::Tensor& d, const torch::Tensor& row_ptr, const torch::Tensor& src) {
  check_same(d, d, "d");
  TORCH_CHECK_VALUE(d.dim() == 1, "d must be (E,)");
  check_index(d, row_ptr, "row_ptr");
  check_index(d, src, "src");
  TORCH_CHECK_VALUE(src.numel() == d.numel(), "d must have one entry per edge");
}

// states (steps + 1, N, 3) with states[0] = x0.
torch::Tensor distance_descent_forward(const torch::Tensor& x0, const torch::Tensor& d, const torch::Tensor& row_ptr,
                                       const torch::Tensor& src, int64_t steps, double lr, int64_t stream) {
  check_descent(d, row_ptr, src);
  check_points(d, x0, "x0");
  const int64_t N = x0.size(0);
  TORCH_CHECK_VALUE(row_ptr.numel() == N + 1, "row_ptr must have N + 1 entries");
  auto states = torch::empty({steps + 1, N, 3}, x0.options());
  states[0].copy_(x0);
  const bool cuda = use_cuda(x0, "distance_descent");
  AT_DISPATCH_FLOATING_TYPES(x0.scalar_type(), "distance_descent_forward", [&] {
    auto args = std::make_tuple(d.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), src.data_ptr<int64_t>(), N,
                                steps, (scalar_t)lr, states.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::distance_descent_forward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::distance_descent_forward_cpu<scalar_t>(a...); }, args);
    }
  });
  return states;
}

// Returns grad_x0 (N, 3) and grad_d (E,).
std::vector<torch::Tensor> distance_descent_backward(const torch::Tensor& states, const torch::Tensor& d,
                                                     const torch::Tensor& row_ptr, const torch::Tensor& src,
                                                     const torch::Tensor& dst, const torch::Tensor& col_ptr,
                                                     const torch::Tensor& col_edges, const torch::Tensor& grad_out,
                                                     double lr, int64_t stream) {
  check_descent(d, row_ptr, src);
  check_same(d, states, "states");
  TORCH_CHECK_VALUE(states.dim() == 3 && states.size(2) == 3 && states.scalar_type() == d.scalar_type(),
                    "states must be (steps + 1, N, 3) with d's dtype");
  const int64_t N = states.size(1), steps = states.size(0) - 1;
  check_points(d, grad_out, "grad_out");
  TORCH_CHECK_VALUE(grad_out.size(0) == N, "grad_out must be (N, 3)");
  for (auto* t : {&dst, &col_ptr, &col_edges}) check_index(d, *t, "dst/col_ptr/col_edges");
  auto grad_x = grad_out.clone();
  auto grad_d = torch::zeros_like(d);
  auto scratch = torch::empty_like(grad_x);
  const bool cuda = use_cuda(d, "distance_descent backward");
  AT_DISPATCH_FLOATING_TYPES(d.scalar_type(), "distance_descent_backward", [&] {
    auto args = std::make_tuple(states.data_ptr<scalar_t>(), d.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(),
                                src.data_ptr<int64_t>(), dst.data_ptr<int64_t>(), col_ptr.data_ptr<int64_t>(),
                                col_edges.data_ptr<int64_t>(), N, steps, (scalar_t)lr, grad_x.data_ptr<scalar_t>(),
                                grad_d.data_ptr<scalar_t>(), scratch.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::distance_descent_backward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::distance_descent_backward_cpu<scalar_t>(a...); }, args);
    }
  });
  return {grad_x, grad_d};
}

}  // namespace

void bind_distance_descent(pybind11::module_& m) {
  m.def("distance_descent_forward", &distance_descent_forward);
  m.def("distance_descent_backward", &distance_descent_backward);
}
