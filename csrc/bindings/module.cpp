// The only torch translation unit: argument checks, output allocation, the CPU/CUDA branch of each
// op, and the pybind11 module. Shape and value validation with user-facing messages lives in the
// Python layer (conformer_kernels/_checks.py); the checks here guard the raw-pointer contract.
#include <torch/extension.h>

#include "../automorphisms/automorphisms.h"
#include "../distance_descent/distance_descent.h"
#include "../edge_geometry/edge_geometry.h"
#include "../gather_layer_norm/gather_layer_norm.h"
#include "../gine_aggregate/gine_aggregate.h"
#include "../kabsch/kabsch.h"
#include "../rmsd_matrix/rmsd_matrix.h"
#include "../segment_softmax/segment_softmax.h"
#include "../symmetric_rmsd/symmetric_rmsd.h"
#include "../triplets/triplets.h"
#include "../vector_aggregation/vector_aggregation.h"

namespace {

#ifdef CK_WITH_CUDA
constexpr bool kCudaCompiled = true;
#else
constexpr bool kCudaCompiled = false;
#endif

[[maybe_unused]] void* as_stream(int64_t stream) { return reinterpret_cast<void*>(stream); }

// True when the op must run on CUDA; raises when the extension was built without it.
bool use_cuda(const torch::Tensor& t, const char* op) {
  if (!t.is_cuda()) return false;
  TORCH_CHECK(kCudaCompiled, op, ": got CUDA tensors but conformer_kernels was built without CUDA ",
              "(rebuild with CONFORMER_KERNELS_CUDA=1 on a machine with nvcc and a CUDA torch)");
  return true;
}

void check_same(const torch::Tensor& ref, const torch::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.device() == ref.device(), name, " must be on ", ref.device(), ", got ", t.device());
  TORCH_CHECK_VALUE(t.is_contiguous(), name, " must be contiguous");
}

void check_points(const torch::Tensor& ref, const torch::Tensor& t, const char* name) {
  check_same(ref, t, name);
  TORCH_CHECK_VALUE(t.dim() == 2 && t.size(1) == 3, name, " must have shape (total, 3), got ", t.sizes());
  TORCH_CHECK_VALUE(t.scalar_type() == ref.scalar_type(), name, " must have dtype ", ref.scalar_type());
}

void check_index(const torch::Tensor& ref, const torch::Tensor& t, const char* name) {
  check_same(ref, t, name);
  TORCH_CHECK_VALUE(t.scalar_type() == torch::kLong, name, " must be int64, got ", t.scalar_type());
}

// CUDA launches compile only into a CUDA build; use_cuda() has raised before they are reached.
#ifdef CK_WITH_CUDA
#define CK_CUDA_ONLY(...) __VA_ARGS__
#else
#define CK_CUDA_ONLY(...)
#endif

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
    }
  });
  return {R, pc, qc, sse};
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

ck::LabelledGraph as_graph(const torch::Tensor& atom_labels, const torch::Tensor& bonds,
                           const torch::Tensor& bond_labels) {
  for (auto [t, name] : {std::pair{&atom_labels, "atom_labels"}, {&bonds, "bonds"}, {&bond_labels, "bond_labels"}}) {
    TORCH_CHECK_VALUE(t->device().is_cpu() && t->scalar_type() == torch::kLong && t->is_contiguous(),
                      name, " must be a contiguous int64 CPU tensor");
  }
  TORCH_CHECK_VALUE(bonds.dim() == 2 && bonds.size(1) == 2, "bonds must have shape (E, 2), got ", bonds.sizes());
  TORCH_CHECK_VALUE(bond_labels.numel() == bonds.size(0), "bond_labels must have one entry per bond");
  ck::LabelledGraph g;
  g.n_atoms = atom_labels.numel();
  g.atom_labels = atom_labels.data_ptr<int64_t>();
  g.n_bonds = bonds.size(0);
  g.bonds = bonds.data_ptr<int64_t>();
  g.bond_labels = bond_labels.data_ptr<int64_t>();
  return g;
}

std::tuple<torch::Tensor, bool, bool> automorphisms(const torch::Tensor& atom_labels, const torch::Tensor& bonds,
                                                    const torch::Tensor& bond_labels, int64_t max_count,
                                                    int64_t max_steps, const c10::optional<torch::Tensor>& cost) {
  const auto graph = as_graph(atom_labels, bonds, bond_labels);
  if (cost) {
    TORCH_CHECK_VALUE(cost->device().is_cpu() && cost->scalar_type() == torch::kDouble && cost->is_contiguous() &&
                      cost->numel() == graph.n_atoms * graph.n_atoms, "cost must be a contiguous float64 CPU (N, N) tensor");
  }
  ck::AutomorphismResult result;
  {
    pybind11::gil_scoped_release no_gil;
    result = ck::enumerate_automorphisms(graph, max_count, max_steps, cost ? cost->data_ptr<double>() : nullptr);
  }
  auto out = torch::empty({result.count, graph.n_atoms}, atom_labels.options());
  std::copy(result.perms.begin(), result.perms.end(), out.data_ptr<int64_t>());
  return {out, result.hit_max_count, result.hit_max_steps};
}

torch::Tensor symmetry_classes(const torch::Tensor& atom_labels, const torch::Tensor& bonds,
                               const torch::Tensor& bond_labels) {
  const auto classes = ck::symmetry_classes(as_graph(atom_labels, bonds, bond_labels));
  auto out = torch::empty({(int64_t)classes.size()}, atom_labels.options());
  std::copy(classes.begin(), classes.end(), out.data_ptr<int64_t>());
  return out;
}

}  // namespace

void check_csr(const torch::Tensor& ref, const torch::Tensor& row_ptr, const torch::Tensor& src, int64_t E) {
  check_index(ref, row_ptr, "row_ptr");
  check_index(ref, src, "src");
  TORCH_CHECK_VALUE(src.numel() == E, "src must have one entry per edge (", E, "), got ", src.numel());
}

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

void check_triplets(const torch::Tensor& x, const torch::Tensor& row_ptr, const torch::Tensor& j, const torch::Tensor& k) {
  TORCH_CHECK_VALUE(x.dim() == 2 && x.size(1) == 3 && x.is_contiguous(), "x must be a contiguous (N, 3) tensor");
  check_index(x, row_ptr, "row_ptr");
  check_index(x, j, "j");
  check_index(x, k, "k");
  TORCH_CHECK_VALUE(row_ptr.numel() == x.size(0) + 1 && j.numel() == k.numel(), "inconsistent triplet layout");
}

const void* opt_ptr(const c10::optional<torch::Tensor>& t) { return t ? t->data_ptr() : nullptr; }

std::vector<torch::Tensor> triplet_geometry_forward(const torch::Tensor& x, const torch::Tensor& row_ptr,
                                                    const torch::Tensor& j, const torch::Tensor& k, int64_t stream) {
  check_triplets(x, row_ptr, j, k);
  const int64_t N = x.size(0), T = j.numel();
  auto dij = torch::empty({T}, x.options()), dik = torch::empty({T}, x.options()), dot = torch::empty({T}, x.options());
  const bool cuda = use_cuda(x, "triplet_geometry");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplet_geometry_forward", [&] {
    auto args = std::make_tuple(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), j.data_ptr<int64_t>(),
                                k.data_ptr<int64_t>(), N, dij.data_ptr<scalar_t>(), dik.data_ptr<scalar_t>(),
                                dot.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::triplet_geometry_forward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::triplet_geometry_forward_cpu<scalar_t>(a...); }, args);
    }
  });
  return {dij, dik, dot};
}

torch::Tensor triplet_geometry_backward(const torch::Tensor& x, const torch::Tensor& row_ptr, const torch::Tensor& j,
                                        const torch::Tensor& k, const c10::optional<torch::Tensor>& g_dij,
                                        const c10::optional<torch::Tensor>& g_dik,
                                        const c10::optional<torch::Tensor>& g_dot, int64_t stream) {
  check_triplets(x, row_ptr, j, k);
  auto gx = torch::zeros_like(x);
  const bool cuda = use_cuda(x, "triplet_geometry backward");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplet_geometry_backward", [&] {
    auto args = std::make_tuple(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), j.data_ptr<int64_t>(),
                                k.data_ptr<int64_t>(), x.size(0), (const scalar_t*)opt_ptr(g_dij),
                                (const scalar_t*)opt_ptr(g_dik), (const scalar_t*)opt_ptr(g_dot), gx.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::triplet_geometry_backward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::triplet_geometry_backward_cpu<scalar_t>(a...); }, args);
    }
  });
  return gx;
}

torch::Tensor triplet_aggregation_forward(const torch::Tensor& x, const torch::Tensor& row_ptr, const torch::Tensor& j,
                                          const torch::Tensor& k, const torch::Tensor& f, const torch::Tensor& g,
                                          int64_t stream) {
  check_triplets(x, row_ptr, j, k);
  for (auto* t : {&f, &g}) {
    check_same(x, *t, "f/g");
    TORCH_CHECK_VALUE(t->scalar_type() == x.scalar_type() && t->numel() == j.numel(), "f and g must be (T,) with x's dtype");
  }
  auto out = torch::empty_like(x);
  const bool cuda = use_cuda(x, "triplet_aggregation");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplet_aggregation_forward", [&] {
    auto args = std::make_tuple(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), j.data_ptr<int64_t>(),
                                k.data_ptr<int64_t>(), x.size(0), f.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(),
                                out.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::triplet_aggregation_forward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::triplet_aggregation_forward_cpu<scalar_t>(a...); }, args);
    }
  });
  return out;
}

std::vector<torch::Tensor> triplet_aggregation_backward(const torch::Tensor& x, const torch::Tensor& row_ptr,
                                                        const torch::Tensor& j, const torch::Tensor& k,
                                                        const torch::Tensor& f, const torch::Tensor& g,
                                                        const torch::Tensor& grad_out, bool need_x, bool need_f,
                                                        bool need_g, int64_t stream) {
  check_triplets(x, row_ptr, j, k);
  check_points(x, grad_out, "grad_out");
  auto gx = need_x ? torch::zeros_like(x) : torch::Tensor();
  auto gf = need_f ? torch::empty_like(f) : torch::Tensor();
  auto gg = need_g ? torch::empty_like(g) : torch::Tensor();
  const bool cuda = use_cuda(x, "triplet_aggregation backward");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplet_aggregation_backward", [&] {
    auto args = std::make_tuple(x.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), j.data_ptr<int64_t>(),
                                k.data_ptr<int64_t>(), x.size(0), f.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(),
                                grad_out.data_ptr<scalar_t>(), need_x ? gx.data_ptr<scalar_t>() : nullptr,
                                need_f ? gf.data_ptr<scalar_t>() : nullptr, need_g ? gg.data_ptr<scalar_t>() : nullptr);
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::triplet_aggregation_backward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::triplet_aggregation_backward_cpu<scalar_t>(a...); }, args);
    }
  });
  return {gx, gf, gg};
}

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

void check_descent(const torch::Tensor& d, const torch::Tensor& row_ptr, const torch::Tensor& src) {
  check_same(d, d, "d");
  TORCH_CHECK_VALUE(d.dim() == 1, "d must be (E,)");
  check_index(d, row_ptr, "row_ptr");
  check_index(d, src, "src");
  TORCH_CHECK_VALUE(src.numel() == d.numel(), "d must have one entry per edge");
}

// states (steps + 1, N, 3) with states[0] = x0.
torch::Tensor distance_descent_forward(const torch::Tensor& x0, const torch::Tensor& d, const torch::Tensor& row_ptr,
                                       const torch::Tensor& src, int64_t steps, double lr, int64_t stream) {
  check_descent(d, row_ptr, src);
  check_points(d, x0, "x0");
  const int64_t N = x0.size(0);
  TORCH_CHECK_VALUE(row_ptr.numel() == N + 1, "row_ptr must have N + 1 entries");
  auto states = torch::empty({steps + 1, N, 3}, x0.options());
  states[0].copy_(x0);
  const bool cuda = use_cuda(x0, "distance_descent");
  AT_DISPATCH_FLOATING_TYPES(x0.scalar_type(), "distance_descent_forward", [&] {
    auto args = std::make_tuple(d.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(), src.data_ptr<int64_t>(), N,
                                steps, (scalar_t)lr, states.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::distance_descent_forward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::distance_descent_forward_cpu<scalar_t>(a...); }, args);
    }
  });
  return states;
}

// Returns grad_x0 (N, 3) and grad_d (E,).
std::vector<torch::Tensor> distance_descent_backward(const torch::Tensor& states, const torch::Tensor& d,
                                                     const torch::Tensor& row_ptr, const torch::Tensor& src,
                                                     const torch::Tensor& dst, const torch::Tensor& col_ptr,
                                                     const torch::Tensor& col_edges, const torch::Tensor& grad_out,
                                                     double lr, int64_t stream) {
  check_descent(d, row_ptr, src);
  check_same(d, states, "states");
  TORCH_CHECK_VALUE(states.dim() == 3 && states.size(2) == 3 && states.scalar_type() == d.scalar_type(),
                    "states must be (steps + 1, N, 3) with d's dtype");
  const int64_t N = states.size(1), steps = states.size(0) - 1;
  check_points(d, grad_out, "grad_out");
  TORCH_CHECK_VALUE(grad_out.size(0) == N, "grad_out must be (N, 3)");
  for (auto* t : {&dst, &col_ptr, &col_edges}) check_index(d, *t, "dst/col_ptr/col_edges");
  auto grad_x = grad_out.clone();
  auto grad_d = torch::zeros_like(d);
  auto scratch = torch::empty_like(grad_x);
  const bool cuda = use_cuda(d, "distance_descent backward");
  AT_DISPATCH_FLOATING_TYPES(d.scalar_type(), "distance_descent_backward", [&] {
    auto args = std::make_tuple(states.data_ptr<scalar_t>(), d.data_ptr<scalar_t>(), row_ptr.data_ptr<int64_t>(),
                                src.data_ptr<int64_t>(), dst.data_ptr<int64_t>(), col_ptr.data_ptr<int64_t>(),
                                col_edges.data_ptr<int64_t>(), N, steps, (scalar_t)lr, grad_x.data_ptr<scalar_t>(),
                                grad_d.data_ptr<scalar_t>(), scratch.data_ptr<scalar_t>());
    if (cuda) {
      CK_CUDA_ONLY(std::apply([&](auto... a) { ck::distance_descent_backward_cuda<scalar_t>(a..., as_stream(stream)); }, args);)
    } else {
      std::apply([](auto... a) { ck::distance_descent_backward_cpu<scalar_t>(a...); }, args);
    }
  });
  return {grad_x, grad_d};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "conformer_kernels C++/CUDA ops; use the Python API in conformer_kernels instead.";
  m.def("cuda_compiled", [] { return kCudaCompiled; });
  m.def("kabsch_forward", &kabsch_forward);
  m.def("aligned_sse_backward", &aligned_sse_backward);
  m.def("symmetric_sse", &symmetric_sse);
  m.def("rmsd_matrix", &rmsd_matrix);
  m.def("automorphisms", &automorphisms);
  m.def("symmetry_classes", &symmetry_classes);
  m.def("vector_aggregation_forward", &vector_aggregation_forward);
  m.def("vector_aggregation_backward", &vector_aggregation_backward);
  m.def("segment_softmax_forward", &segment_softmax_forward);
  m.def("edge_geometry_forward", &edge_geometry_forward);
  m.def("triplet_geometry_forward", &triplet_geometry_forward);
  m.def("triplet_geometry_backward", &triplet_geometry_backward);
  m.def("triplet_aggregation_forward", &triplet_aggregation_forward);
  m.def("triplet_aggregation_backward", &triplet_aggregation_backward);
  m.def("segment_attention_forward", &segment_attention_forward);
  m.def("segment_attention_backward", &segment_attention_backward);
  m.def("edge_geometry_backward", &edge_geometry_backward);
  m.def("segment_softmax_backward", &segment_softmax_backward);
  m.def("gather_layer_norm_forward", &gather_layer_norm_forward);
  m.def("gather_layer_norm_backward", &gather_layer_norm_backward);
  m.def("gather_table_backward", &gather_table_backward);
  m.def("gine_aggregate_forward", &gine_aggregate_forward);
  m.def("distance_descent_forward", &distance_descent_forward);
  m.def("distance_descent_backward", &distance_descent_backward);
  m.def("gine_aggregate_grouped_grad", &gine_aggregate_grouped_grad);
  m.def("gine_aggregate_tangent", &gine_aggregate_tangent);
}
