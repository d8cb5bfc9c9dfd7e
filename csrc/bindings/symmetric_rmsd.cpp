// Bindings of symmetric_rmsd: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include "../symmetric_rmsd/symmetric_rmsd.h"

namespace {

std::vector<torch::Tensor> symmetric_sse(const torch::Tensor& P, const torch::Tensor& Q,
                                         const torch::Tensor& ptr, const torch::Tensor& perms,
                                         const torch::Tensor& perm_offset,
                                         const torch::Tensor& perm_count, int64_t stream) {
  TORCH_CHECK_VALUE(P.dim() == 2 && P.size(1) == 3 && P.is_contiguous(), "P must be a contiguous (total, 3) tensor");
  check_points(P, Q, "Q");
  for (auto [t, name] : {std::pair{&ptr, "ptr"}, {&perms, "perms"}, {&perm_offset, "perm_offset"}, {&perm_count, "perm_count"}})
    check_index(P, *t, name);
  const int64_t B = ptr.numel() - 1;
  auto sse = torch::empty({B}, P.options());
  auto best = torch::empty({B}, ptr.options());
  const bool cuda = use_cuda(P, "symmetric_rmsd");
  AT_DISPATCH_FLOATING_TYPES(P.scalar_type(), "symmetric_sse", [&] {
    if (cuda) {
      CK_CUDA_ONLY(ck::symmetric_sse_cuda<scalar_t>(P.data_ptr<scalar_t>(), Q.data_ptr<scalar_t>(), ptr.data_ptr<int64_t>(), B,
                                       perms.data_ptr<int64_t>(), perm_offset.data_ptr<int64_t>(),
                                       perm_count.data_ptr<int64_t>(), sse.data_ptr<scalar_t>(),
                                       best.data_ptr<int64_t>(), as_stream(stream));)
    } else {
      ck::symmetric_sse_cpu<scalar_t>(P.data_ptr<scalar_t>(), Q.data_ptr<scalar_t>(), ptr.data_ptr<int64_t>(), B,
                                      perms.data_ptr<int64_t>(), perm_offset.data_ptr<int64_t>(),
                                      perm_count.data_ptr<int64_t>(), sse.data_ptr<scalar_t>(),
                                      best.data_ptr<int64_t>());
    }
  });
  return {sse, best};
}

}  // namespace

void bind_symmetric_rmsd(pybind11::module_& m) {
  m.def("symmetric_sse", &symmetric_sse);
}
