// Bindings of segment_softmax: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include "../segment_softmax/segment_softmax.h"

namespace {

std::vector<torch::Tensor> segment_softmax_forward(const torch::Tensor& scores, const torch::Tensor& values,
                                                   const torch::Tensor& row_ptr, int64_t stream) {
  TORCH_CHECK_VALUE(scores.dim() == 2 && scores.is_contiguous(), "scores must be a contiguous (E, H) tensor");
  check_same(scores, values, "values");
  TORCH_CHECK_VALUE(values.dim() == 3 && values.size(0) == scores.size(0) && values.size(1) == scores.size(1) &&
                    values.scalar_type() == scores.scalar_type(), "values must be (E, H, D) with scores' dtype");
  check_index(scores, row_ptr, "row_ptr");
  const int64_t N = row_ptr.numel() - 1, H = scores.size(1), D = values.size(2);
  auto out = torch::empty({N, H, D}, values.options());
  auto lse = torch::empty({N, H}, scores.options());
  const bool cuda = use_cuda(scores, "segment_softmax");
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "segment_softmax_forward", [&] {
    if (cuda) {
      CK_CUDA_ONLY(ck::segment_softmax_forward_cuda<scalar_t>(scores.data_ptr<scalar_t>(), values.data_ptr<scalar_t>(),
          row_ptr.data_ptr<int64_t>(), N, H, D, out.data_ptr<scalar_t>(), lse.data_ptr<scalar_t>(), as_stream(stream));)
    } else {
      ck::segment_softmax_forward_cpu<scalar_t>(scores.data_ptr<scalar_t>(), values.data_ptr<scalar_t>(),
                                                row_ptr.data_ptr<int64_t>(), N, H, D, out.data_ptr<scalar_t>(),
                                                lse.data_ptr<scalar_t>());
    }
  });
  return {out, lse};
}

std::vector<torch::Tensor> segment_softmax_backward(const torch::Tensor& scores, const torch::Tensor& values,
                                                    const torch::Tensor& row_ptr, const torch::Tensor& out,
                                                    const torch::Tensor& lse, const torch::Tensor& grad_out,
                                                    bool need_scores, bool need_values, int64_t stream) {
  for (auto* t : {&values, &out, &lse, &grad_out}) check_same(scores, *t, "saved tensor");
  check_index(scores, row_ptr, "row_ptr");
  const int64_t N = row_ptr.numel() - 1, H = scores.size(1), D = values.size(2);
  auto gs = need_scores ? torch::empty_like(scores) : torch::Tensor();
  auto gv = need_values ? torch::empty_like(values) : torch::Tensor();
  const bool cuda = use_cuda(scores, "segment_softmax backward");
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "segment_softmax_backward", [&] {
    scalar_t* gsp = need_scores ? gs.data_ptr<scalar_t>() : nullptr;
    scalar_t* gvp = need_values ? gv.data_ptr<scalar_t>() : nullptr;
    if (cuda) {
      CK_CUDA_ONLY(ck::segment_softmax_backward_cuda<scalar_t>(scores.data_ptr<scalar_t>(), values.data_ptr<scalar_t>(),
          row_ptr.data_ptr<int64_t>(), N, H, D, out.data_ptr<scalar_t>(), lse.data_ptr<scalar_t>(),
          grad_out.data_ptr<scalar_t>(), gsp, gvp, as_stream(stream));)
    } else {
      ck::segment_softmax_backward_cpu<scalar_t>(scores.data_ptr<scalar_t>(), values.data_ptr<scalar_t>(),
                                                 row_ptr.data_ptr<int64_t>(), N, H, D, out.data_ptr<scalar_t>(),
                                                 lse.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(), gsp, gvp);
    }
  });
  return {gs, gv};
}

std::vector<torch::Tensor> segment_attention_forward(const torch::Tensor& query, const torch::Tensor& key,
                                                     const torch::Tensor& values, const torch::Tensor& row_ptr,
                                                     double scale, int64_t stream) {
  TORCH_CHECK_VALUE(query.dim() == 3 && query.is_contiguous(), "query must be a contiguous (N, H, C) tensor");
  check_same(query, key, "key");
  check_same(query, values, "values");
  TORCH_CHECK_VALUE(key.dim() == 3 && (key.size(1) == query.size(1) || key.size(1) == 1) &&
                    key.size(2) == query.size(2) && key.scalar_type() == query.scalar_type(),
                    "key must be (E, H, C) or (E, 1, C) with query's H, C and dtype");
  TORCH_CHECK_VALUE(values.dim() == 3 && values.size(0) == key.size(0) && values.size(1) == query.size(1) &&
                    values.scalar_type() == query.scalar_type(), "values must be (E, H, D) with query's dtype");
  check_index(query, row_ptr, "row_ptr");
  const int64_t N = query.size(0), H = query.size(1), Hk = key.size(1), C = query.size(2), D = values.size(2);
  TORCH_CHECK_VALUE(row_ptr.numel() == N + 1, "row_ptr must have N + 1 entries");
  auto out = torch::empty({N, H, D}, values.options());
  auto lse = torch::empty({N, H}, query.options());
  const bool cuda = use_cuda(query, "segment_attention");
  AT_DISPATCH_FLOATING_TYPES(query.scalar_type(), "segment_attention_forward", [&] {
    if (cuda) {
      CK_CUDA_ONLY(ck::segment_attention_forward_cuda<scalar_t>(query.data_ptr<scalar_t>(), key.data_ptr<scalar_t>(),
          values.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), N, H, Hk, C, D, (scalar_t)scale, out.data_ptr<scalar_t>(),
          lse.data_ptr<scalar_t>(), as_stream(stream));)
    } else {
      ck::segment_attention_forward_cpu<scalar_t>(query.data_ptr<scalar_t>(), key.data_ptr<scalar_t>(),
          values.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), N, H, Hk, C, D, (scalar_t)scale, out.data_ptr<scalar_t>(),
          lse.data_ptr<scalar_t>());
    }
  });
  return {out, lse};
}

std::vector<torch::Tensor> segment_attention_backward(const torch::Tensor& query, const torch::Tensor& key,
                                                      const torch::Tensor& values, const torch::Tensor& row_ptr,
                                                      double scale, const torch::Tensor& out, const torch::Tensor& lse,
                                                      const torch::Tensor& grad_out, bool need_q, bool need_k,
                                                      bool need_v, int64_t stream) {
  for (auto* t : {&key, &values, &out, &lse, &grad_out}) check_same(query, *t, "saved tensor");
  check_index(query, row_ptr, "row_ptr");
  const int64_t N = query.size(0), H = query.size(1), Hk = key.size(1), C = query.size(2), D = values.size(2);
  auto gq = need_q ? torch::empty_like(query) : torch::Tensor();
  auto gk = need_k ? torch::zeros_like(key) : torch::Tensor();  // accumulated into
  auto gv = need_v ? torch::empty_like(values) : torch::Tensor();
  const bool cuda = use_cuda(query, "segment_attention backward");
  AT_DISPATCH_FLOATING_TYPES(query.scalar_type(), "segment_attention_backward", [&] {
    scalar_t* gqp = need_q ? gq.data_ptr<scalar_t>() : nullptr;
    scalar_t* gkp = need_k ? gk.data_ptr<scalar_t>() : nullptr;
    scalar_t* gvp = need_v ? gv.data_ptr<scalar_t>() : nullptr;
    if (cuda) {
      CK_CUDA_ONLY(ck::segment_attention_backward_cuda<scalar_t>(query.data_ptr<scalar_t>(), key.data_ptr<scalar_t>(),
          values.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), N, H, Hk, C, D, (scalar_t)scale, out.data_ptr<scalar_t>(),
          lse.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(), gqp, gkp, gvp, as_stream(stream));)
    } else {
      ck::segment_attention_backward_cpu<scalar_t>(query.data_ptr<scalar_t>(), key.data_ptr<scalar_t>(),
          values.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), N, H, Hk, C, D, (scalar_t)scale, out.data_ptr<scalar_t>(),
          lse.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(), gqp, gkp, gvp);
    }
  });
  return {gq, gk, gv};
}

}  // namespace

void bind_segment_softmax(pybind11::module_& m) {
  m.def("segment_softmax_forward", &segment_softmax_forward);
  m.def("segment_softmax_backward", &segment_softmax_backward);
  m.def("segment_attention_forward", &segment_attention_forward);
  m.def("segment_attention_backward", &segment_attention_backward);
}
