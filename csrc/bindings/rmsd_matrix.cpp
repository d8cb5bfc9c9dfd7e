// Bindings of rmsd_matrix: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include "../rmsd_matrix/rmsd_matrix.h"

namespace {

std::vector<torch::Tensor> rmsd_matrix(const torch::Tensor& X, const torch::Tensor& Y,
                                       const torch::Tensor& perms, int64_t stream) {
  TORCH_CHECK_VALUE(X.dim() == 3 && X.size(2) == 3 && X.is_contiguous(), "X must be a contiguous (G, N, 3) tensor");
  check_same(X, Y, "Y");
  TORCH_CHECK_VALUE(Y.dim() == 3 && Y.size(1) == X.size(1) && Y.size(2) == 3, "Y must have shape (R, N, 3)");
  TORCH_CHECK_VALUE(Y.scalar_type() == X.scalar_type(), "Y must have X's dtype");
  check_index(X, perms, "perms");
  const int64_t G = X.size(0), R = Y.size(0), n = X.size(1);
  const int64_t n_perms = perms.numel() == 0 ? 0 : perms.size(0);
  TORCH_CHECK_VALUE(n_perms == 0 || (perms.dim() == 2 && perms.size(1) == n), "perms must have shape (P, N)");
  auto sse = torch::empty({G, R}, X.options());
  auto best = torch::empty({G, R}, perms.options());
  auto scratch = torch::empty({ck::rmsd_matrix_scratch_size(G, R, n)}, X.options().dtype(torch::kDouble));
  const bool cuda = use_cuda(X, "rmsd_matrix");
  AT_DISPATCH_FLOATING_TYPES(X.scalar_type(), "rmsd_matrix", [&] {
    if (cuda) {
      CK_CUDA_ONLY(ck::rmsd_matrix_cuda<scalar_t>(X.data_ptr<scalar_t>(), Y.data_ptr<scalar_t>(), G, R, n, perms.data_ptr<int64_t>(),
                                     n_perms, scratch.data_ptr<double>(), sse.data_ptr<scalar_t>(),
                                     best.data_ptr<int64_t>(), as_stream(stream));)
    } else {
      ck::rmsd_matrix_cpu<scalar_t>(X.data_ptr<scalar_t>(), Y.data_ptr<scalar_t>(), G, R, n, perms.data_ptr<int64_t>(),
                                    n_perms, scratch.data_ptr<double>(), sse.data_ptr<scalar_t>(),
                                    best.data_ptr<int64_t>());
    }
  });
  return {sse, best};
}

}  // namespace

void bind_rmsd_matrix(pybind11::module_& m) {
  m.def("rmsd_matrix", &rmsd_matrix);
}
