// Bindings of gather_layer_norm: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include "../gather_layer_norm/gather_layer_norm.h"

namespace {

void check_gather(const torch::Tensor& table, const torch::Tensor& index, const c10::optional<torch::Tensor>& weight,
                  const torch::Tensor& gamma, const torch::Tensor& beta) {
  check_same(table, table, "table");
  TORCH_CHECK_VALUE(table.dim() == 2, "table must be (R, C)");
  check_index(table, index, "index");
  TORCH_CHECK_VALUE(index.dim() == 2, "index must be (M, B)");
  if (weight) {
    check_same(table, *weight, "weight");
    TORCH_CHECK_VALUE(weight->scalar_type() == table.scalar_type() && weight->sizes() == index.sizes(),
                      "weight must have index's shape and table's dtype");
  }
  for (auto* t : {&gamma, &beta}) {
    check_same(table, *t, "gamma/beta");
    TORCH_CHECK_VALUE(t->scalar_type() == table.scalar_type() && t->numel() == table.size(1),
                      "gamma and beta must be (C,) with table's dtype");
  }
}

std::vector<torch::Tensor> gather_layer_norm_forward(const torch::Tensor& table, const torch::Tensor& index,
                                                     const c10::optional<torch::Tensor>& weight,
                                                     const torch::Tensor& gamma, const torch::Tensor& beta, double eps,
                                                     bool relu, int64_t stream) {
  check_gather(table, index, weight, gamma, beta);
  const int64_t M = index.size(0), B = index.size(1), C = table.size(1);
  auto out = torch::empty({M, C}, table.options());
  auto mean = torch::empty({M}, table.options()), rstd = torch::empty({M}, table.options());
  const bool cuda = use_cuda(table, "gather_layer_norm");
  AT_DISPATCH_FLOATING_TYPES(table.scalar_type(), "gather_layer_norm_forward", [&] {
    auto args = std::make_tuple(table.data_ptr<scalar_t>(), index.data_ptr<int64_t>(), (const scalar_t*)opt_ptr(weight),
                                gamma.data_ptr<scalar_t>(), beta.data_ptr<scalar_t>(), M, B, C, (scalar_t)eps, relu,
                                out.data_ptr<scalar_t>(), mean.data_ptr<scalar_t>(), rstd.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::gather_layer_norm_forward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::gather_layer_norm_forward_cpu<scalar_t>(a...); }, args);
    }
  });
  return {out, mean, rstd};
}

// Returns grad_pre (M, C), grad_weight (M, B; empty unless asked), grad_gamma, grad_beta (C).
std::vector<torch::Tensor> gather_layer_norm_backward(const torch::Tensor& table, const torch::Tensor& index,
                                                      const c10::optional<torch::Tensor>& weight,
                                                      const torch::Tensor& gamma, const torch::Tensor& beta,
                                                      const torch::Tensor& mean, const torch::Tensor& rstd,
                                                      const torch::Tensor& grad_out, bool relu, bool need_weight,
                                                      int64_t stream) {
  check_gather(table, index, weight, gamma, beta);
  const int64_t M = index.size(0), B = index.size(1), C = table.size(1);
  check_same(table, grad_out, "grad_out");
  TORCH_CHECK_VALUE(grad_out.sizes() == torch::IntArrayRef({M, C}), "grad_out must be (M, C)");
  auto grad_pre = torch::empty({M, C}, table.options());
  auto grad_weight = need_weight && weight ? torch::empty({M, B}, table.options()) : torch::Tensor();
  auto grad_gamma = torch::zeros({C}, table.options()), grad_beta = torch::zeros({C}, table.options());
  const bool cuda = use_cuda(table, "gather_layer_norm backward");
  AT_DISPATCH_FLOATING_TYPES(table.scalar_type(), "gather_layer_norm_backward", [&] {
    auto args = std::make_tuple(table.data_ptr<scalar_t>(), index.data_ptr<int64_t>(), (const scalar_t*)opt_ptr(weight),
                                gamma.data_ptr<scalar_t>(), beta.data_ptr<scalar_t>(), mean.data_ptr<scalar_t>(),
                                rstd.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(), M, B, C, relu,
                                grad_pre.data_ptr<scalar_t>(),
                                grad_weight.defined() ? grad_weight.data_ptr<scalar_t>() : nullptr,
                                grad_gamma.data_ptr<scalar_t>(), grad_beta.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::gather_layer_norm_backward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::gather_layer_norm_backward_cpu<scalar_t>(a...); }, args);
    }
  });
  return {grad_pre, grad_weight, grad_gamma, grad_beta};
}

torch::Tensor gather_table_backward(const torch::Tensor& grad_pre, const c10::optional<torch::Tensor>& weight,
                                    const torch::Tensor& entry_ptr, const torch::Tensor& entries, int64_t B,
                                    int64_t stream) {
  check_same(grad_pre, grad_pre, "grad_pre");
  check_index(grad_pre, entry_ptr, "entry_ptr");
  check_index(grad_pre, entries, "entries");
  if (weight) check_same(grad_pre, *weight, "weight");
  const int64_t R = entry_ptr.numel() - 1, C = grad_pre.size(1);
  auto grad_table = torch::empty({R, C}, grad_pre.options());
  const bool cuda = use_cuda(grad_pre, "gather_layer_norm backward");
  AT_DISPATCH_FLOATING_TYPES(grad_pre.scalar_type(), "gather_table_backward", [&] {
    auto args = std::make_tuple(grad_pre.data_ptr<scalar_t>(), (const scalar_t*)opt_ptr(weight),
                                entry_ptr.data_ptr<int64_t>(), entries.data_ptr<int64_t>(), R, B, C,
                                grad_table.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::gather_table_backward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::gather_table_backward_cpu<scalar_t>(a...); }, args);
    }
  });
  return grad_table;
}

}  // namespace

void bind_gather_layer_norm(pybind11::module_& m) {
  m.def("gather_layer_norm_forward", &gather_layer_norm_forward);
  m.def("gather_layer_norm_backward", &gather_layer_norm_backward);
  m.def("gather_table_backward", &gather_table_backward);
}
