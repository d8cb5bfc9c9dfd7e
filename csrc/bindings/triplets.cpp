// Bindings of triplets: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include "../triplets/triplets.h"

namespace {

void check_triplets(const torch::Tensor& x, const torch::Tensor& row_ptr, const torch::Tensor& j, const torch::Tensor& k) {
  TORCH_CHECK_VALUE(x.dim() == 2 && x.size(1) == 3 && x.is_contiguous(), "x must be a contiguous (N, 3) tensor");
  check_index(x, row_ptr, "row_ptr");
  check_index(x, j, "j");
  check_index(x, k, "k");
  TORCH_CHECK_VALUE(row_ptr.numel() == x.size(0) + 1 && j.numel() == k.numel(), "inconsistent triplet layout");
}


std::vector<torch::Tensor> triplet_geometry_forward(const torch::Tensor& x, const torch::Tensor& row_ptr,
                                                    const torch::Tensor& j, const torch::Tensor& k, int64_t stream) {
  check_triplets(x, row_ptr, j, k);
  const int64_t N = x.size(0), T = j.numel();
  auto dij = torch::empty({T}, x.options()), dik = torch::empty({T}, x.options()), dot = torch::empty({T}, x.options());
  const bool cuda = use_cuda(x, "triplet_geometry");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplet_geometry_forward", [&] {
    auto args = std::make_tuple(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), j.data_ptr<int64_t>(),
                                k.data_ptr<int64_t>(), N, dij.data_ptr<scalar_t>(), dik.data_ptr<scalar_t>(),
                                dot.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::triplet_geometry_forward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::triplet_geometry_forward_cpu<scalar_t>(a...); }, args);
    }
  });
  return {dij, dik, dot};
}

torch::Tensor triplet_geometry_backward(const torch::Tensor& x, const torch::Tensor& row_ptr, const torch::Tensor& j,
                                        const torch::Tensor& k, const c10::optional<torch::Tensor>& g_dij,
                                        const c10::optional<torch::Tensor>& g_dik,
                                        const c10::optional<torch::Tensor>& g_dot, int64_t stream) {
  check_triplets(x, row_ptr, j, k);
  auto gx = torch::zeros_like(x);
  const bool cuda = use_cuda(x, "triplet_geometry backward");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplet_geometry_backward", [&] {
    auto args = std::make_tuple(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), j.data_ptr<int64_t>(),
                                k.data_ptr<int64_t>(), x.size(0), (const scalar_t*)opt_ptr(g_dij),
                                (const scalar_t*)opt_ptr(g_dik), (const scalar_t*)opt_ptr(g_dot), gx.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::triplet_geometry_backward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::triplet_geometry_backward_cpu<scalar_t>(a...); }, args);
    }
  });
  return gx;
}

torch::Tensor triplet_aggregation_forward(const torch::Tensor& x, const torch::Tensor& row_ptr, const torch::Tensor& j,
                                          const torch::Tensor& k, const torch::Tensor& f, const torch::Tensor& g,
                                          int64_t stream) {
  check_triplets(x, row_ptr, j, k);
  for (auto* t : {&f, &g}) {
    check_same(x, *t, "f/g");
    TORCH_CHECK_VALUE(t->scalar_type() == x.scalar_type() && t->numel() == j.numel(), "f and g must be (T,) with x's dtype");
  }
  auto out = torch::empty_like(x);
  const bool cuda = use_cuda(x, "triplet_aggregation");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplet_aggregation_forward", [&] {
    auto args = std::make_tuple(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), j.data_ptr<int64_t>(),
                                k.data_ptr<int64_t>(), x.size(0), f.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(),
                                out.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::triplet_aggregation_forward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::triplet_aggregation_forward_cpu<scalar_t>(a...); }, args);
    }
  });
  return out;
}

std::vector<torch::Tensor> triplet_aggregation_backward(const torch::Tensor& x, const torch::Tensor& row_ptr,
                                                        const torch::Tensor& j, const torch::Tensor& k,
                                                        const torch::Tensor& f, const torch::Tensor& g,
                                                        const torch::Tensor& grad_out, bool need_x, bool need_f,
                                                        bool need_g, int64_t stream) {
  check_triplets(x, row_ptr, j, k);
  check_points(x, grad_out, "grad_out");
  auto gx = need_x ? torch::zeros_like(x) : torch::Tensor();
  auto gf = need_f ? torch::empty_like(f) : torch::Tensor();
  auto gg = need_g ? torch::empty_like(g) : torch::Tensor();
  const bool cuda = use_cuda(x, "triplet_aggregation backward");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplet_aggregation_backward", [&] {
    auto args = std::make_tuple(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), j.data_ptr<int64_t>(),
                                k.data_ptr<int64_t>(), x.size(0), f.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(),
                                grad_out.data_ptr<scalar_t>(), need_x ? gx.data_ptr<scalar_t>() : nullptr,
                                need_f ? gf.data_ptr<scalar_t>() : nullptr, need_g ? gg.data_ptr<scalar_t>() : nullptr);
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::triplet_aggregation_backward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::triplet_aggregation_backward_cpu<scalar_t>(a...); }, args);
    }
  });
  return {gx, gf, gg};
}

}  // namespace

void bind_triplets(pybind11::module_& m) {
  m.def("triplet_geometry_forward", &triplet_geometry_forward);
  m.def("triplet_geometry_backward", &triplet_geometry_backward);
  m.def("triplet_aggregation_forward", &triplet_aggregation_forward);
  m.def("triplet_aggregation_backward", &triplet_aggregation_backward);
}
