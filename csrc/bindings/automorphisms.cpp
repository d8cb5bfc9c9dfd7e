// Bindings of automorphisms: argument checks, output allocation and the CPU/CUDA branch.
#include "common.h"

#include "../automorphisms/automorphisms.h"
#include "../automorphisms/mol_pickle.h"

namespace {

torch::Tensor int64_tensor(const std::vector<int64_t>& v, std::initializer_list<int64_t> shape) {
  auto out = torch::empty(shape, torch::kLong);
  std::copy(v.begin(), v.end(), out.data_ptr<int64_t>());
  return out;
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
  return {int64_tensor(result.perms, {result.count, graph.n_atoms}), result.hit_max_count, result.hit_max_steps};
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
  return int64_tensor(classes, {(int64_t)classes.size()});
}

std::vector<int64_t> int64_vector(const torch::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.device().is_cpu() && t.scalar_type() == torch::kLong, name, " must be an int64 CPU tensor");
  const auto c = t.contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

using LabelledTensors = std::tuple<torch::Tensor, torch::Tensor, torch::Tensor>;

LabelledTensors as_tensors(const ck::LabelledMolGraph& g) {
  const int64_t n = static_cast<int64_t>(g.atom_labels.size()), e = static_cast<int64_t>(g.bond_labels.size());
  return {int64_tensor(g.atom_labels, {n}), int64_tensor(g.bonds, {e, 2}), int64_tensor(g.bond_labels, {e})};
}

// (terminal, centre) atom lists of the symmetrized conjugated terminal bonds, from (M, 2) pairs.
std::pair<std::vector<int64_t>, std::vector<int64_t>> terminal_bonds(const torch::Tensor& pairs, int64_t n_atoms) {
  const auto flat = int64_vector(pairs, "terminal_pairs");
  TORCH_CHECK_VALUE(flat.size() % 2 == 0, "terminal_pairs must have shape (M, 2)");
  std::vector<int64_t> terminal, centre;
  for (size_t k = 0; k < flat.size(); k += 2) {
    TORCH_CHECK_VALUE(flat[k] >= 0 && flat[k] < n_atoms && flat[k + 1] >= 0 && flat[k + 1] < n_atoms,
                      "terminal_pairs holds an atom index outside [0, N)");
    terminal.push_back(flat[k]);
    centre.push_back(flat[k + 1]);
  }
  return {terminal, centre};
}

// The labelled graph of an RDKit Mol from its binary pickle (ck::read_mol_pickle): (why, labels);
// why is "" when read, otherwise the reason the caller must read the Mol another way.
std::tuple<std::string, c10::optional<LabelledTensors>> mol_graph_from_pickle(
    const pybind11::bytes& pickle, const torch::Tensor& order_label, const torch::Tensor& terminal_pairs) {
  char* data = nullptr;
  Py_ssize_t size = 0;
  TORCH_CHECK_VALUE(PyBytes_AsStringAndSize(pickle.ptr(), &data, &size) == 0, "pickle must be bytes");
  ck::MolGraphFields fields;
  auto why = ck::read_mol_pickle(reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(size), fields);
  if (!why.empty()) return {why, c10::nullopt};
  const auto [terminal, centre] = terminal_bonds(terminal_pairs, fields.n_atoms());
  return {"", as_tensors(ck::label_mol_graph(fields, int64_vector(order_label, "order_label"), terminal, centre))};
}

// The same labels from fields read in Python: atom_fields (N, 5) = element, charge, isotope,
// radical electrons, ring count; bonds (E, 2); bond_types (E,).
LabelledTensors label_mol_graph(const torch::Tensor& atom_fields, const torch::Tensor& bonds,
                                const torch::Tensor& bond_types, const torch::Tensor& order_label,
                                const torch::Tensor& terminal_pairs) {
  TORCH_CHECK_VALUE(atom_fields.dim() == 2 && atom_fields.size(1) == 5, "atom_fields must have shape (N, 5)");
  TORCH_CHECK_VALUE(bonds.dim() == 2 && bonds.size(1) == 2 && bond_types.numel() == bonds.size(0),
                    "bonds must have shape (E, 2) and bond_types (E,)");
  const int64_t n = atom_fields.size(0);
  const auto a = int64_vector(atom_fields, "atom_fields");
  ck::MolGraphFields fields;
  for (int64_t i = 0; i < n; ++i) {
    fields.atomic_num.push_back(a[5 * i]);
    fields.formal_charge.push_back(a[5 * i + 1]);
    fields.isotope.push_back(a[5 * i + 2]);
    fields.radical_electrons.push_back(a[5 * i + 3]);
    fields.ring_count.push_back(a[5 * i + 4]);
  }
  fields.bonds = int64_vector(bonds, "bonds");
  for (int64_t v : fields.bonds) TORCH_CHECK_VALUE(v >= 0 && v < n, "bonds holds an atom index outside [0, N)");
  fields.bond_type = int64_vector(bond_types, "bond_types");
  const auto [terminal, centre] = terminal_bonds(terminal_pairs, n);
  return as_tensors(ck::label_mol_graph(fields, int64_vector(order_label, "order_label"), terminal, centre));
}

}  // namespace

void bind_automorphisms(pybind11::module_& m) {
  m.def("automorphisms", &automorphisms);
  m.def("symmetry_classes", &symmetry_classes);
  m.def("best_automorphisms", &best_automorphisms);
  m.def("rows_are_permutations", &rows_are_permutations);
  m.def("mol_graph_from_pickle", &mol_graph_from_pickle);
  m.def("label_mol_graph", &label_mol_graph);
}
