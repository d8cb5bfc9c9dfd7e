// Bindings of edge_geometry: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include "../edge_geometry/edge_geometry.h"

namespace {

ck::RbfParams rbf_params(const torch::Tensor& centers, double gamma, double cutoff, bool squared) {
  return ck::RbfParams{centers.numel(), gamma, cutoff, squared};
}

std::vector<torch::Tensor> edge_geometry_forward(const torch::Tensor& x, const torch::Tensor& row_ptr,
                                                 const torch::Tensor& src, const torch::Tensor& centers, double gamma,
                                                 double cutoff, bool squared, int64_t stream) {
  TORCH_CHECK_VALUE(x.dim() == 2 && x.size(1) == 3 && x.is_contiguous(), "x must be a contiguous (N, 3) tensor");
  check_same(x, centers, "centers");
  TORCH_CHECK_VALUE(centers.scalar_type() == x.scalar_type() && centers.dim() == 1, "centers must be (K,) with x's dtype");
  check_csr(x, row_ptr, src, src.numel());
  const int64_t N = x.size(0), E = src.numel(), K = centers.numel();
  auto dist = torch::empty({E}, x.options());
  auto unit = torch::empty({E, 3}, x.options());
  auto rbf = torch::empty({E, K}, x.options());
  const auto p = rbf_params(centers, gamma, cutoff, squared);
  const bool cuda = use_cuda(x, "edge_geometry");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "edge_geometry_forward", [&] {
    if (cuda) {
      CK_CUDA_ONLY(ck::edge_geometry_forward_cuda<scalar_t>(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(),
          src.data_ptr<int64_t>(), N, centers.data_ptr<scalar_t>(), p, dist.data_ptr<scalar_t>(), unit.data_ptr<scalar_t>(),
          rbf.data_ptr<scalar_t>(), as_stream(stream));)
    } else {
      ck::edge_geometry_forward_cpu<scalar_t>(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), src.data_ptr<int64_t>(), N,
                                              centers.data_ptr<scalar_t>(), p, dist.data_ptr<scalar_t>(),
                                              unit.data_ptr<scalar_t>(), rbf.data_ptr<scalar_t>());
    }
  });
  return {dist, unit, rbf};
}

torch::Tensor edge_geometry_backward(const torch::Tensor& x, const torch::Tensor& row_ptr, const torch::Tensor& src,
                                     const torch::Tensor& centers, double gamma, double cutoff, bool squared,
                                     const c10::optional<torch::Tensor>& grad_dist,
                                     const c10::optional<torch::Tensor>& grad_unit,
                                     const c10::optional<torch::Tensor>& grad_rbf, int64_t stream) {
  check_csr(x, row_ptr, src, src.numel());
  for (auto* g : {&grad_dist, &grad_unit, &grad_rbf}) if (*g) check_same(x, **g, "gradient");
  const int64_t N = x.size(0);
  auto gx = torch::zeros_like(x);
  const auto p = rbf_params(centers, gamma, cutoff, squared);
  const bool cuda = use_cuda(x, "edge_geometry backward");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "edge_geometry_backward", [&] {
    const scalar_t* gd = grad_dist ? grad_dist->data_ptr<scalar_t>() : nullptr;
    const scalar_t* gu = grad_unit ? grad_unit->data_ptr<scalar_t>() : nullptr;
    const scalar_t* gr = grad_rbf ? grad_rbf->data_ptr<scalar_t>() : nullptr;
    if (cuda) {
      CK_CUDA_ONLY(ck::edge_geometry_backward_cuda<scalar_t>(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(),
          src.data_ptr<int64_t>(), N, centers.data_ptr<scalar_t>(), p, gd, gu, gr, gx.data_ptr<scalar_t>(), as_stream(stream));)
    } else {
      ck::edge_geometry_backward_cpu<scalar_t>(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), src.data_ptr<int64_t>(),
                                               N, centers.data_ptr<scalar_t>(), p, gd, gu, gr, gx.data_ptr<scalar_t>());
    }
  });
  return gx;
}

}  // namespace

void bind_edge_geometry(pybind11::module_& m) {
  m.def("edge_geometry_forward", &edge_geometry_forward);
  m.def("edge_geometry_backward", &edge_geometry_backward);
}
