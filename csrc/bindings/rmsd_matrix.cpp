// Bindings of rmsd_matrix: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include <cmath>
#include <string>

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

template <typename T>
bool all_finite(const torch::Tensor& t) {
  if (t.is_cuda()) return t.numel() == 0 || torch::isfinite(t).all().item<bool>();
  const T* x = t.data_ptr<T>();
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (!std::isfinite(x[i])) return false;
  return true;
}

// sse (G, R) -> RMSD sqrt(max(sse, 0) / n) in place; false where the result is not finite. Plain
// loops on the CPU: a torch op on a few thousand numbers costs tens of us in thread hand-offs.
template <typename T>
bool sse_to_rmsd(torch::Tensor& sse, int64_t n) {
  const double inv = 1.0 / (double)std::max<int64_t>(n, 1);
  if (sse.is_cuda()) {
    sse.clamp_min_(0).mul_(inv).sqrt_();
    return sse.numel() == 0 || torch::isfinite(sse).all().item<bool>();
  }
  T* x = sse.data_ptr<T>();
  bool finite = true;
  for (int64_t i = 0, m = sse.numel(); i < m; ++i) {
    const double v = (double)x[i];
    x[i] = (T)std::sqrt((v > 0.0 ? v : (v == v ? 0.0 : v)) * inv);  // NaN stays NaN
    finite = finite && std::isfinite(x[i]);
  }
  return finite;
}

// Many molecules: Xs[m] (G, N, 3), Ys[m] (R, N, 3), perms[m] (P, N) int64 (P = 0: the identity;
// rows already checked to be permutations), all of one dtype and device. Returns the (G, R) RMSD
// (Angstrom) and best rows of each molecule; raises ValueError for non-finite coordinates or
// results (coordinates too large), naming X / Y for a single molecule (rmsd_matrix), else Xs[m].
std::vector<std::vector<torch::Tensor>> rmsd_matrices(const std::vector<torch::Tensor>& Xs,
                                                      const std::vector<torch::Tensor>& Ys,
                                                      const std::vector<torch::Tensor>& perms, bool single,
                                                      int64_t stream) {
  const int64_t M = (int64_t)Xs.size();
  TORCH_CHECK_VALUE((int64_t)Ys.size() == M && (int64_t)perms.size() == M,
                    "Xs, Ys and perms must hold one entry per molecule, got ", M, ", ", Ys.size(), " and ", perms.size());
  if (M == 0) return {{}, {}};
  std::vector<torch::Tensor> sse(M), best(M), scratch(M);
  std::vector<int64_t> G(M), R(M), n(M), n_perms(M);
  auto name = [&](const char* base, int64_t m) { return single ? std::string(base) : std::string(base) + "s[" + std::to_string(m) + "]"; };
  for (int64_t m = 0; m < M; ++m) {
    const auto &X = Xs[m], &Y = Ys[m], &P = perms[m];
    TORCH_CHECK_VALUE(X.dim() == 3 && X.size(2) == 3 && X.is_contiguous(), name("X", m), " must be a contiguous (G, N, 3) tensor");
    TORCH_CHECK_VALUE(X.scalar_type() == Xs[0].scalar_type() && X.device() == Xs[0].device(),
                      name("X", m), " must have the dtype and device of Xs[0]");
    check_same(X, Y, "Y");
    TORCH_CHECK_VALUE(Y.dim() == 3 && Y.size(1) == X.size(1) && Y.size(2) == 3 && Y.scalar_type() == X.scalar_type(),
                      name("Y", m), " must have shape (R, ", X.size(1), ", 3) and ", name("X", m), "'s dtype");
    check_index(X, P, "perms");
    G[m] = X.size(0); R[m] = Y.size(0); n[m] = X.size(1);
    n_perms[m] = P.numel() == 0 ? 0 : P.size(0);
    TORCH_CHECK_VALUE(n_perms[m] == 0 || (P.dim() == 2 && P.size(1) == n[m]), "perms must have shape (P, ", n[m], ")");
    AT_DISPATCH_FLOATING_TYPES(X.scalar_type(), "rmsd_matrices_finite", [&] {
      TORCH_CHECK_VALUE(all_finite<scalar_t>(X), name("X", m), " contains NaN or Inf");
      TORCH_CHECK_VALUE(all_finite<scalar_t>(Y), name("Y", m), " contains NaN or Inf");
    });
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
    for (int64_t m = 0; m < M; ++m)
      TORCH_CHECK_VALUE(sse_to_rmsd<scalar_t>(sse[m], n[m]), single ? std::string("X and Y give a non-finite result")
                        : "molecule " + std::to_string(m), ": coordinates too large (the RMSD overflows)");
  });
  return {sse, best};
}

}  // namespace

void bind_rmsd_matrix(pybind11::module_& m) {
  m.def("rmsd_matrix", &rmsd_matrix);
  m.def("rmsd_matrices", &rmsd_matrices);
}
