// Bindings of automorphisms: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include "../automorphisms/automorphisms.h"

namespace {

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

// Per pair b: the automorphism minimising the aligned SSE of X[b][perm] onto Y[b] (see
// ck::best_automorphism), from start[b]; cost (B, N, N) orders the images tried.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> best_automorphisms(
    const torch::Tensor& atom_labels, const torch::Tensor& bonds, const torch::Tensor& bond_labels,
    const torch::Tensor& X, const torch::Tensor& Y, const torch::Tensor& start, int64_t max_steps,
    const c10::optional<torch::Tensor>& cost) {
  const auto graph = as_graph(atom_labels, bonds, bond_labels);
  const int64_t n = graph.n_atoms;
  for (auto [t, name] : {std::pair{&X, "X"}, {&Y, "Y"}}) {
    TORCH_CHECK_VALUE(t->device().is_cpu() && t->scalar_type() == torch::kDouble && t->is_contiguous() &&
                      t->dim() == 3 && t->size(1) == n && t->size(2) == 3,
                      name, " must be a contiguous float64 CPU (B, N, 3) tensor");
  }
  const int64_t B = X.size(0);
  TORCH_CHECK_VALUE(Y.size(0) == B, "X and Y must hold the same number of pairs");
  TORCH_CHECK_VALUE(start.device().is_cpu() && start.scalar_type() == torch::kLong && start.is_contiguous() &&
                    start.dim() == 2 && start.size(0) == B && start.size(1) == n,
                    "start must be a contiguous int64 CPU (B, N) tensor");
  const int64_t* s = start.data_ptr<int64_t>();
  for (int64_t i = 0; i < B * n; ++i) TORCH_CHECK_VALUE(s[i] >= 0 && s[i] < n, "start holds an atom index outside [0, N)");
  if (cost) {
    TORCH_CHECK_VALUE(cost->device().is_cpu() && cost->scalar_type() == torch::kDouble && cost->is_contiguous() &&
                      cost->numel() == B * n * n, "cost must be a contiguous float64 CPU (B, N, N) tensor");
  }
  auto perm = torch::empty({B, n}, start.options());
  auto sse = torch::empty({B}, X.options());
  auto exact = torch::empty({B}, X.options().dtype(torch::kBool));
  {
    pybind11::gil_scoped_release no_gil;
    ck::best_automorphisms(graph, B, X.data_ptr<double>(), Y.data_ptr<double>(), s, max_steps,
                           cost ? cost->data_ptr<double>() : nullptr, perm.data_ptr<int64_t>(),
                           sse.data_ptr<double>(), exact.data_ptr<bool>());
  }
  return {perm, sse, exact};
}

// Whether every row of a contiguous int64 CPU (P, N) table is a permutation of 0..N-1: a plain
// loop (the torch sort-and-compare check cost ~30 us per call, more than small rmsd_matrix calls).
bool rows_are_permutations(const torch::Tensor& perms) {
  TORCH_CHECK_VALUE(perms.device().is_cpu() && perms.scalar_type() == torch::kLong && perms.is_contiguous() &&
                    perms.dim() == 2, "perms must be a contiguous int64 CPU (P, N) tensor");
  const int64_t P = perms.size(0), n = perms.size(1);
  const int64_t* row = perms.data_ptr<int64_t>();
  std::vector<int64_t> seen(n, -1);
  for (int64_t k = 0; k < P; ++k, row += n)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = row[i];
      if (v < 0 || v >= n || seen[v] == k) return false;
      seen[v] = k;
    }
  return true;
}

torch::Tensor symmetry_classes(const torch::Tensor& atom_labels, const torch::Tensor& bonds,
                               const torch::Tensor& bond_labels) {
  const auto classes = ck::symmetry_classes(as_graph(atom_labels, bonds, bond_labels));
  auto out = torch::empty({(int64_t)classes.size()}, atom_labels.options());
  std::copy(classes.begin(), classes.end(), out.data_ptr<int64_t>());
  return out;
}

}  // namespace

void bind_automorphisms(pybind11::module_& m) {
  m.def("automorphisms", &automorphisms);
  m.def("symmetry_classes", &symmetry_classes);
  m.def("best_automorphisms", &best_automorphisms);
  m.def("rows_are_permutations", &rows_are_permutations);
}
