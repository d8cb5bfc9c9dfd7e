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

// Many molecules: Xs[m] (G, N, 3), Ys[m] (R, N, 3), perms[m] (P, N) int64 (P = 0: the identity),
// all of one dtype and device. Returns the (G, R) RMSD (Angstrom) of each molecule; raises
// ValueError naming the molecule for non-finite coordinates or results (coordinates too large).
std::vector<torch::Tensor> rmsd_matrices(const std::vector<torch::Tensor>& Xs, const std::vector<torch::Tensor>& Ys,
                                         const std::vector<torch::Tensor>& perms, int64_t stream) {
  const int64_t M = (int64_t)Xs.size();
  TORCH_CHECK_VALUE((int64_t)Ys.size() == M && (int64_t)perms.size() == M,
                    "Xs, Ys and perms must hold one entry per molecule, got ", M, ", ", Ys.size(), " and ", perms.size());
  if (M == 0) return {};
  std::vector<torch::Tensor> sse(M), best(M), scratch(M);
  std::vector<int64_t> G(M), R(M), n(M), n_perms(M);
  for (int64_t m = 0; m < M; ++m) {
    const auto &X = Xs[m], &Y = Ys[m], &P = perms[m];
    TORCH_CHECK_VALUE(X.dim() == 3 && X.size(2) == 3 && X.is_contiguous(), "Xs[", m, "] must be a contiguous (G, N, 3) tensor");
    TORCH_CHECK_VALUE(X.scalar_type() == Xs[0].scalar_type() && X.device() == Xs[0].device(),
                      "Xs[", m, "] must have the dtype and device of Xs[0]");
    check_same(X, Y, "Ys[m]");
    TORCH_CHECK_VALUE(Y.dim() == 3 && Y.size(1) == X.size(1) && Y.size(2) == 3 && Y.scalar_type() == X.scalar_type(),
                      "Ys[", m, "] must have shape (R, ", X.size(1), ", 3) and Xs[", m, "]'s dtype");
    check_index(X, P, "perms[m]");
    G[m] = X.size(0); R[m] = Y.size(0); n[m] = X.size(1);
    n_perms[m] = P.numel() == 0 ? 0 : P.size(0);
    TORCH_CHECK_VALUE(n_perms[m] == 0 || (P.dim() == 2 && P.size(1) == n[m]), "perms[", m, "] must have shape (P, ", n[m], ")");
    TORCH_CHECK_VALUE(torch::isfinite(X).all().item<bool>() && torch::isfinite(Y).all().item<bool>(),
                      "molecule ", m, ": coordinates contain NaN or Inf");
    sse[m] = torch::empty({G[m], R[m]}, X.options());
    best[m] = torch::empty({G[m], R[m]}, P.options());
    scratch[m] = torch::empty({ck::rmsd_matrix_scratch_size(G[m], R[m], n[m])}, X.options().dtype(torch::kDouble));
  }
  const bool cuda = use_cuda(Xs[0], "rmsd_matrices");
  AT_DISPATCH_FLOATING_TYPES(Xs[0].scalar_type(), "rmsd_matrices", [&] {
    if (cuda) {
      for (int64_t m = 0; m < M; ++m) {  // one launch per molecule, on one stream
        CK_CUDA_ONLY(ck::rmsd_matrix_cuda<scalar_t>(Xs[m].data_ptr<scalar_t>(), Ys[m].data_ptr<scalar_t>(), G[m], R[m], n[m],
                                                    perms[m].data_ptr<int64_t>(), n_perms[m], scratch[m].data_ptr<double>(),
                                                    sse[m].data_ptr<scalar_t>(), best[m].data_ptr<int64_t>(), as_stream(stream));)
      }
    } else {
      std::vector<const scalar_t*> X(M), Y(M);
      std::vector<const int64_t*> P(M);
      std::vector<double*> work(M);
      std::vector<scalar_t*> out(M);
      std::vector<int64_t*> arg(M);
      for (int64_t m = 0; m < M; ++m) {
        X[m] = Xs[m].data_ptr<scalar_t>(); Y[m] = Ys[m].data_ptr<scalar_t>(); P[m] = perms[m].data_ptr<int64_t>();
        work[m] = scratch[m].data_ptr<double>(); out[m] = sse[m].data_ptr<scalar_t>(); arg[m] = best[m].data_ptr<int64_t>();
      }
      ck::rmsd_matrices_cpu<scalar_t>(M, X.data(), Y.data(), G.data(), R.data(), n.data(), P.data(), n_perms.data(),
                                      work.data(), out.data(), arg.data());
    }
  });
  for (int64_t m = 0; m < M; ++m) {  // RMSD = sqrt(sse / N), in place
    sse[m].clamp_min_(0).div_(std::max<int64_t>(n[m], 1)).sqrt_();
    TORCH_CHECK_VALUE(sse[m].numel() == 0 || torch::isfinite(sse[m]).all().item<bool>(),
                      "molecule ", m, ": coordinates too large (the RMSD overflows)");
  }
  return sse;
}

}  // namespace

void bind_rmsd_matrix(pybind11::module_& m) {
  m.def("rmsd_matrix", &rmsd_matrix);
  m.def("rmsd_matrices", &rmsd_matrices);
}
