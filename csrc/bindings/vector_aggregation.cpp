// Bindings of vector_aggregation: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include "../vector_aggregation/vector_aggregation.h"

namespace {

torch::Tensor vector_aggregation_forward(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& row_ptr,
                                         const torch::Tensor& src, bool normalize, int64_t stream) {
  TORCH_CHECK_VALUE(x.dim() == 2 && x.size(1) == 3 && x.is_contiguous(), "x must be a contiguous (N, 3) tensor");
  check_same(x, w, "weight");
  TORCH_CHECK_VALUE(w.scalar_type() == x.scalar_type() && w.dim() == 1, "weight must be (E,) with x's dtype");
  check_csr(x, row_ptr, src, w.numel());
  const int64_t N = x.size(0);
  TORCH_CHECK_VALUE(row_ptr.numel() == N + 1, "row_ptr must have N + 1 entries");
  auto out = torch::empty_like(x);
  const bool cuda = use_cuda(x, "vector_aggregation");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "vector_aggregation_forward", [&] {
    if (cuda) {
      CK_CUDA_ONLY(ck::vector_aggregation_forward_cuda<scalar_t>(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
          row_ptr.data_ptr<int64_t>(), src.data_ptr<int64_t>(), N, normalize, out.data_ptr<scalar_t>(), as_stream(stream));)
    } else {
      ck::vector_aggregation_forward_cpu<scalar_t>(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(),
                                                   src.data_ptr<int64_t>(), N, normalize, out.data_ptr<scalar_t>());
    }
  });
  return out;
}

std::vector<torch::Tensor> vector_aggregation_backward(const torch::Tensor& x, const torch::Tensor& w,
                                                       const torch::Tensor& row_ptr, const torch::Tensor& src,
                                                       bool normalize, const torch::Tensor& grad_out, bool need_x,
                                                       bool need_w, int64_t stream) {
  check_points(x, grad_out, "grad_out");
  check_csr(x, row_ptr, src, w.numel());
  const int64_t N = x.size(0);
  auto gx = need_x ? torch::zeros_like(x) : torch::Tensor();
  auto gw = need_w ? torch::empty_like(w) : torch::Tensor();
  const bool cuda = use_cuda(x, "vector_aggregation backward");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "vector_aggregation_backward", [&] {
    scalar_t* gxp = need_x ? gx.data_ptr<scalar_t>() : nullptr;
    scalar_t* gwp = need_w ? gw.data_ptr<scalar_t>() : nullptr;
    if (cuda) {
      CK_CUDA_ONLY(ck::vector_aggregation_backward_cuda<scalar_t>(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
          row_ptr.data_ptr<int64_t>(), src.data_ptr<int64_t>(), N, normalize, grad_out.data_ptr<scalar_t>(), gxp, gwp,
          as_stream(stream));)
    } else {
      ck::vector_aggregation_backward_cpu<scalar_t>(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(),
                                                    src.data_ptr<int64_t>(), N, normalize, grad_out.data_ptr<scalar_t>(),
                                                    gxp, gwp);
    }
  });
  return {gx, gw};
}

}  // namespace

void bind_vector_aggregation(pybind11::module_& m) {
  m.def("vector_aggregation_forward", &vector_aggregation_forward);
  m.def("vector_aggregation_backward", &vector_aggregation_backward);
}
