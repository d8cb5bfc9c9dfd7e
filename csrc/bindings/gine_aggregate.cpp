// Bindings of gine_aggregate: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include "../gine_aggregate/gine_aggregate.h"

namespace {

void check_gine(const torch::Tensor& h, const torch::Tensor& attr, const torch::Tensor& src,
                const c10::optional<torch::Tensor>& attr_row) {
  check_same(h, h, "h");
  TORCH_CHECK_VALUE(h.dim() == 2, "h must be (N, C)");
  check_same(h, attr, "edge_attr");
  TORCH_CHECK_VALUE(attr.dim() == 2 && attr.size(1) == h.size(1) && attr.scalar_type() == h.scalar_type(),
                    "edge_attr must be (R, C) with h's C and dtype");
  check_index(h, src, "src");
  if (attr_row) {
    check_index(h, *attr_row, "attr_row");
    TORCH_CHECK_VALUE(attr_row->numel() == src.numel(), "attr_row must have one entry per edge");
  } else {
    TORCH_CHECK_VALUE(attr.size(0) == src.numel(), "edge_attr must have one row per edge when attr_row is absent");
  }
}

torch::Tensor gine_aggregate_forward(const torch::Tensor& h, const torch::Tensor& attr, const torch::Tensor& row_ptr,
                                     const torch::Tensor& src, const c10::optional<torch::Tensor>& attr_row,
                                     double eps, int64_t stream) {
  check_gine(h, attr, src, attr_row);
  check_index(h, row_ptr, "row_ptr");
  TORCH_CHECK_VALUE(row_ptr.numel() == h.size(0) + 1, "row_ptr must have N + 1 entries");
  const int64_t N = h.size(0), C = h.size(1);
  auto out = torch::empty({N, C}, h.options());
  const bool cuda = use_cuda(h, "gine_aggregate");
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "gine_aggregate_forward", [&] {
    auto args = std::make_tuple(h.data_ptr<scalar_t>(), attr.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(),
                                src.data_ptr<int64_t>(), (const int64_t*)opt_ptr(attr_row), N, C, (scalar_t)eps,
                                out.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::gine_aggregate_forward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::gine_aggregate_forward_cpu<scalar_t>(a...); }, args);
    }
  });
  return out;
}

// The forward's tangent for tangents dh, dattr (either absent: zero); see gine_aggregate.h.
torch::Tensor gine_aggregate_tangent(const torch::Tensor& h, const torch::Tensor& attr,
                                     const c10::optional<torch::Tensor>& dh, const c10::optional<torch::Tensor>& dattr,
                                     const torch::Tensor& row_ptr, const torch::Tensor& src,
                                     const c10::optional<torch::Tensor>& attr_row, double eps, int64_t stream) {
  check_gine(h, attr, src, attr_row);
  check_index(h, row_ptr, "row_ptr");
  TORCH_CHECK_VALUE(row_ptr.numel() == h.size(0) + 1, "row_ptr must have N + 1 entries");
  if (dh) {
    check_same(h, *dh, "dh");
    TORCH_CHECK_VALUE(dh->sizes() == h.sizes(), "dh must have h's shape");
  }
  if (dattr) {
    check_same(h, *dattr, "dattr");
    TORCH_CHECK_VALUE(dattr->sizes() == attr.sizes(), "dattr must have edge_attr's shape");
  }
  const int64_t N = h.size(0), C = h.size(1);
  auto out = torch::empty({N, C}, h.options());
  const bool cuda = use_cuda(h, "gine_aggregate second order");
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "gine_aggregate_tangent", [&] {
    auto args = std::make_tuple(h.data_ptr<scalar_t>(), attr.data_ptr<scalar_t>(), (const scalar_t*)opt_ptr(dh),
                                (const scalar_t*)opt_ptr(dattr), row_ptr.data_ptr<int64_t>(), src.data_ptr<int64_t>(),
                                (const int64_t*)opt_ptr(attr_row), N, C, (scalar_t)eps, out.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::gine_aggregate_tangent_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::gine_aggregate_tangent_cpu<scalar_t>(a...); }, args);
    }
  });
  return out;
}

// One of the backward's two outputs: grad_h (groups = edges by source, self_weight 1 + eps) or
// grad_attr (groups = edges by attr row, self_weight 0); R = group_ptr.numel() - 1 rows.
torch::Tensor gine_aggregate_grouped_grad(const torch::Tensor& h, const torch::Tensor& attr,
                                          const torch::Tensor& grad_out, const torch::Tensor& dst,
                                          const torch::Tensor& src, const c10::optional<torch::Tensor>& attr_row,
                                          const torch::Tensor& group_ptr, const torch::Tensor& entries,
                                          double self_weight, int64_t stream) {
  check_gine(h, attr, src, attr_row);
  check_same(h, grad_out, "grad_out");
  TORCH_CHECK_VALUE(grad_out.sizes() == h.sizes(), "grad_out must have h's shape");
  check_index(h, dst, "dst");
  check_index(h, group_ptr, "group_ptr");
  check_index(h, entries, "entries");
  const int64_t R = group_ptr.numel() - 1, C = h.size(1);
  auto out = torch::empty({R, C}, h.options());
  const bool cuda = use_cuda(h, "gine_aggregate backward");
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "gine_aggregate_grouped_grad", [&] {
    auto args = std::make_tuple(h.data_ptr<scalar_t>(), attr.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(),
                                dst.data_ptr<int64_t>(), src.data_ptr<int64_t>(), (const int64_t*)opt_ptr(attr_row),
                                group_ptr.data_ptr<int64_t>(), entries.data_ptr<int64_t>(), R, C,
                                (scalar_t)self_weight, out.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::gine_aggregate_grouped_grad_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::gine_aggregate_grouped_grad_cpu<scalar_t>(a...); }, args);
    }
  });
  return out;
}

}  // namespace

void bind_gine_aggregate(pybind11::module_& m) {
  m.def("gine_aggregate_forward", &gine_aggregate_forward);
  m.def("gine_aggregate_tangent", &gine_aggregate_tangent);
  m.def("gine_aggregate_grouped_grad", &gine_aggregate_grouped_grad);
}
