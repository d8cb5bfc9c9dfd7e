// Bindings of kabsch: argument checks, output allocation and the CPU/CUDA branch.
#include <cmath>

#include "common.h"

#include "../kabsch/kabsch.h"

namespace {

std::vector<torch::Tensor> kabsch_forward(const torch::Tensor& P, const torch::Tensor& Q,
                                          const c10::optional<torch::Tensor>& weights,
                                          const torch::Tensor& ptr, int64_t stream) {
  TORCH_CHECK_VALUE(P.dim() == 2 && P.size(1) == 3 && P.is_contiguous(), "P must be a contiguous (total, 3) tensor");
  check_points(P, Q, "Q");
  check_index(P, ptr, "ptr");
  if (weights) { check_same(P, *weights, "weights"); TORCH_CHECK_VALUE(weights->scalar_type() == P.scalar_type() && weights->numel() == P.size(0), "weights must have shape (total,) and P's dtype"); }
  const int64_t B = ptr.numel() - 1;
  auto R = torch::empty({B, 3, 3}, P.options());
  auto pc = torch::empty({B, 3}, P.options());
  auto qc = torch::empty({B, 3}, P.options());
  auto sse = torch::empty({B}, P.options());
  auto t = torch::empty({B, 3}, P.options());
  const bool cuda = use_cuda(P, "kabsch");
  AT_DISPATCH_FLOATING_TYPES(P.scalar_type(), "kabsch_forward", [&] {
    const scalar_t* w = weights ? weights->data_ptr<scalar_t>() : nullptr;
    if (cuda) {
      CK_CUDA_ONLY(ck::kabsch_forward_cuda<scalar_t>(P.data_ptr<scalar_t>(), Q.data_ptr<scalar_t>(), w, ptr.data_ptr<int64_t>(), B,
                                        R.data_ptr<scalar_t>(), pc.data_ptr<scalar_t>(), qc.data_ptr<scalar_t>(),
                                        sse.data_ptr<scalar_t>(), as_stream(stream));)
    } else {
      ck::kabsch_forward_cpu<scalar_t>(P.data_ptr<scalar_t>(), Q.data_ptr<scalar_t>(), w, ptr.data_ptr<int64_t>(), B,
                                       R.data_ptr<scalar_t>(), pc.data_ptr<scalar_t>(), qc.data_ptr<scalar_t>(),
                                       sse.data_ptr<scalar_t>());
      // t = qc - R pc: a plain loop (a torch einsum over 1e5 pairs cost 10-15% of the whole op)
      const scalar_t *r = R.data_ptr<scalar_t>(), *p = pc.data_ptr<scalar_t>(), *q = qc.data_ptr<scalar_t>();
      scalar_t* out = t.data_ptr<scalar_t>();
      for (int64_t b = 0; b < B; ++b)
        for (int i = 0; i < 3; ++i)
          out[3 * b + i] = q[3 * b + i] - (r[9 * b + 3 * i] * p[3 * b] + r[9 * b + 3 * i + 1] * p[3 * b + 1] +
                                            r[9 * b + 3 * i + 2] * p[3 * b + 2]);
    }
  });
  if (cuda) t = qc - torch::bmm(R, pc.unsqueeze(-1)).squeeze(-1);
  return {R, pc, qc, sse, t};
}

std::vector<torch::Tensor> aligned_sse_backward(const torch::Tensor& P, const torch::Tensor& Q,
                                                const c10::optional<torch::Tensor>& weights,
                                                const torch::Tensor& ptr, const torch::Tensor& R,
                                                const torch::Tensor& pc, const torch::Tensor& qc,
                                                const torch::Tensor& grad_sse, bool need_p, bool need_q,
                                                int64_t stream) {
  check_points(P, Q, "Q");
  check_index(P, ptr, "ptr");
  for (auto* t : {&R, &pc, &qc, &grad_sse}) check_same(P, *t, "saved tensor");
  const int64_t B = ptr.numel() - 1, total = P.size(0);
  auto gP = need_p ? torch::empty_like(P) : torch::Tensor();
  auto gQ = need_q ? torch::empty_like(Q) : torch::Tensor();
  const bool cuda = use_cuda(P, "aligned_sse backward");
  AT_DISPATCH_FLOATING_TYPES(P.scalar_type(), "aligned_sse_backward", [&] {
    const scalar_t* w = weights ? weights->data_ptr<scalar_t>() : nullptr;
    scalar_t* gp = need_p ? gP.data_ptr<scalar_t>() : nullptr;
    scalar_t* gq = need_q ? gQ.data_ptr<scalar_t>() : nullptr;
    if (cuda) {
      CK_CUDA_ONLY(ck::aligned_sse_backward_cuda<scalar_t>(P.data_ptr<scalar_t>(), Q.data_ptr<scalar_t>(), w, ptr.data_ptr<int64_t>(), B,
                                              total, R.data_ptr<scalar_t>(), pc.data_ptr<scalar_t>(),
                                              qc.data_ptr<scalar_t>(), grad_sse.data_ptr<scalar_t>(), gp, gq,
                                              as_stream(stream));)
    } else {
      ck::aligned_sse_backward_cpu<scalar_t>(P.data_ptr<scalar_t>(), Q.data_ptr<scalar_t>(), w, ptr.data_ptr<int64_t>(), B,
                                             R.data_ptr<scalar_t>(), pc.data_ptr<scalar_t>(), qc.data_ptr<scalar_t>(),
                                             grad_sse.data_ptr<scalar_t>(), gp, gq);
    }
  });
  return {gP, gQ};
}

// Per pair b: wsum_b (the weight sum, or the atom count) and the RMSD sqrt(sse_b / wsum_b), 0 at
// mean squared deviations below `floor` (rounding noise of an exact fit) and for empty pairs, NaN
// kept; and whether every RMSD is finite. CPU only, plain loops: the same few torch ops on a small
// batch cost far more than the kernel (thread hand-offs at every op); on CUDA the Python layer
// computes it with those torch ops (conformer_kernels/ops/kabsch.py).
std::tuple<torch::Tensor, torch::Tensor, bool> aligned_rmsd(const torch::Tensor& sse, const torch::Tensor& ptr,
                                                            const c10::optional<torch::Tensor>& weights, double floor) {
  const int64_t B = ptr.numel() - 1;
  TORCH_CHECK_VALUE(sse.dim() == 1 && sse.numel() == B && sse.is_contiguous(), "sse must be a contiguous (B,) tensor");
  TORCH_CHECK_VALUE(sse.device().is_cpu(), "aligned_rmsd takes CPU tensors");
  check_index(sse, ptr, "ptr");
  auto rmsd = torch::empty_like(sse), wsum = torch::empty_like(sse);
  bool finite = true;
  AT_DISPATCH_FLOATING_TYPES(sse.scalar_type(), "aligned_rmsd", [&] {
    const scalar_t* e = sse.data_ptr<scalar_t>();
    const scalar_t* w = weights ? weights->data_ptr<scalar_t>() : nullptr;
    const int64_t* offsets = ptr.data_ptr<int64_t>();
    scalar_t *out = rmsd.data_ptr<scalar_t>(), *ws = wsum.data_ptr<scalar_t>();
    for (int64_t b = 0; b < B; ++b) {
      double total = 0.0;
      if (w)
        for (int64_t i = offsets[b]; i < offsets[b + 1]; ++i) total += (double)w[i];
      else
        total = (double)(offsets[b + 1] - offsets[b]);
      const double msd = (double)e[b] / (total > 0.0 ? total : 1.0);
      out[b] = (scalar_t)(msd > floor || msd != msd ? std::sqrt(msd) : 0.0);
      ws[b] = (scalar_t)total;
      finite = finite && std::isfinite((double)out[b]);
    }
  });
  return {rmsd, wsum, finite};
}

}  // namespace

void bind_kabsch(pybind11::module_& m) {
  m.def("kabsch_forward", &kabsch_forward);
  m.def("aligned_sse_backward", &aligned_sse_backward);
  m.def("aligned_rmsd", &aligned_rmsd);
}
