#include "automorphisms.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "../common/qcp.h"

namespace ck {
namespace {

struct Neighbour {
  int64_t atom;
  int64_t bond_label;
};

// Atoms' neighbours in one flat array (CSR): adj[i] is a range over atom i's bonds, in bond order.
class Adjacency {
 public:
  struct Range {
    const Neighbour *first, *last;
    const Neighbour* begin() const { return first; }
    const Neighbour* end() const { return last; }
    size_t size() const { return static_cast<size_t>(last - first); }
    const Neighbour& operator[](size_t k) const { return first[k]; }
  };

  explicit Adjacency(const LabelledGraph& g) : start_(g.n_atoms + 1, 0), items_(2 * g.n_bonds) {
    for (int64_t e = 0; e < g.n_bonds; ++e) {
      const int64_t a = g.bonds[2 * e], b = g.bonds[2 * e + 1];
      if (a < 0 || b < 0 || a >= g.n_atoms || b >= g.n_atoms)
        throw std::invalid_argument("bond " + std::to_string(e) + " joins atom indices outside [0, " +
                                    std::to_string(g.n_atoms) + ")");
      if (a == b) throw std::invalid_argument("bond " + std::to_string(e) + " is a self-loop");
      ++start_[a + 1];
      ++start_[b + 1];
    }
    for (int64_t i = 0; i < g.n_atoms; ++i) start_[i + 1] += start_[i];
    std::vector<int64_t> fill(start_.begin(), start_.end() - 1);
    for (int64_t e = 0; e < g.n_bonds; ++e) {
      const int64_t a = g.bonds[2 * e], b = g.bonds[2 * e + 1];
      items_[fill[a]++] = {b, g.bond_labels[e]};
      items_[fill[b]++] = {a, g.bond_labels[e]};
    }
  }
  Range operator[](int64_t i) const { return {items_.data() + start_[i], items_.data() + start_[i + 1]}; }
  int64_t n_atoms() const { return static_cast<int64_t>(start_.size()) - 1; }
  int64_t offset(int64_t i) const { return start_[i]; }  // of atom i's first neighbour in the flat array

 private:
  std::vector<int64_t> start_;
  std::vector<Neighbour> items_;
};

// Numbers the atoms' classes by sorting the atoms with `less` (a strict weak order on atom
// indices): equal atoms share a class, classes count up in sorted order. Returns the class count.
template <typename Less>
int64_t rank_atoms(std::vector<int64_t>& order, std::vector<int64_t>& classes, Less less) {
  std::sort(order.begin(), order.end(), less);
  int64_t next = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    if (k > 0 && less(order[k - 1], order[k])) ++next;
    classes[order[k]] = next;
  }
  return order.empty() ? 0 : next + 1;
}

// 1-WL colour refinement. An atom's signature is (its class, the sorted (bond label, neighbour
// class) pairs), compared lexicographically; the pairs live in one flat array (CSR by atom), so a
// round allocates nothing.
std::vector<int64_t> refine_classes(const LabelledGraph& g, const Adjacency& adj) {
  const int64_t n = g.n_atoms;
  std::vector<int64_t> classes(n), refined(n), order(n), start(n + 1);
  for (int64_t i = 0; i <= n; ++i) start[i] = adj.offset(i);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::vector<std::pair<int64_t, int64_t>> around(start[n]);
  int64_t n_classes = rank_atoms(order, classes, [&](int64_t a, int64_t b) { return g.atom_labels[a] < g.atom_labels[b]; });
  while (true) {
    for (int64_t i = 0; i < n; ++i) {
      auto* pairs = around.data() + start[i];
      for (size_t k = 0; k < adj[i].size(); ++k) pairs[k] = {adj[i][k].bond_label, classes[adj[i][k].atom]};
      std::sort(pairs, around.data() + start[i + 1]);
    }
    const int64_t count = rank_atoms(order, refined, [&](int64_t a, int64_t b) {
      if (classes[a] != classes[b]) return classes[a] < classes[b];
      return std::lexicographical_compare(around.begin() + start[a], around.begin() + start[a + 1],
                                          around.begin() + start[b], around.begin() + start[b + 1]);
    });
    classes.swap(refined);
    if (count == n_classes) return classes;  // a refinement only ever splits classes
    n_classes = count;
  }
}

// Search order: BFS within each connected component, components started at their atom of the
// rarest class, so that every atom after a component's first has a mapped neighbour.
std::vector<int64_t> search_order(const Adjacency& adj, const std::vector<int64_t>& classes) {
  const int64_t n = adj.n_atoms();
  std::vector<int64_t> class_size(n + 1, 0), order, by_rarity(n);
  for (int64_t c : classes) ++class_size[c];
  for (int64_t i = 0; i < n; ++i) by_rarity[i] = i;
  std::stable_sort(by_rarity.begin(), by_rarity.end(), [&](int64_t a, int64_t b) {
    return class_size[classes[a]] < class_size[classes[b]];
  });
  std::vector<char> seen(n, 0);
  for (int64_t root : by_rarity) {
    if (seen[root]) continue;
    seen[root] = 1;
    size_t head = order.size();
    order.push_back(root);
    while (head < order.size()) {
      const int64_t v = order[head++];
      for (const auto& nb : adj[v])
        if (!seen[nb.atom]) { seen[nb.atom] = 1; order.push_back(nb.atom); }
    }
  }
  return order;
}

int64_t bond_label_between(const Adjacency& adj, int64_t a, int64_t b) {
  for (const auto& nb : adj[a])
    if (nb.atom == b) return nb.bond_label;
  return INT64_MIN;
}

class Search {
 public:
  Search(const LabelledGraph& g, int64_t max_count, int64_t max_steps, const double* cost)
      : cost_(cost), adj_(g), classes_(refine_classes(g, adj_)), order_(search_order(adj_, classes_)),
        n_(g.n_atoms), max_count_(max_count), max_steps_(max_steps), image_(n_, -1), used_(n_, 0),
        class_start_(n_ + 1, 0), members_(n_) {
    for (int64_t c : classes_) ++class_start_[c + 1];
    for (int64_t c = 0; c < n_; ++c) class_start_[c + 1] += class_start_[c];
    std::vector<int64_t> fill(class_start_.begin(), class_start_.end() - 1);
    for (int64_t i = 0; i < n_; ++i) members_[fill[classes_[i]]++] = i;  // by atom index within a class
  }

  AutomorphismResult run() {
    if (max_count_ > 0) extend(0);
    return std::move(result_);
  }

  // Branch and bound for best_automorphism: X, Y centred (n x 3), best_sse the start's SSE.
  // Ties with the start are cut, so the start is returned unless a strictly better map exists; its
  // SSE is loosened by rounding (relative 1e-12) as a bound, so that its own branch is not cut early.
  BestAutomorphism run_bounded(const double* X, const double* Y, const std::vector<int64_t>& start,
                               double start_sse) {
    X_ = X;
    Y_ = Y;
    moments_.assign(n_ + 1, Moments{});
    best_.perm = start;
    best_.sse = start_sse * (1 + 1e-12) + 1e-12;
    max_count_ = INT64_MAX;
    extend(0);
    if (best_.sse >= start_sse) {
      best_.sse = start_sse;
      best_.perm = start;
    }
    best_.exact = !result_.hit_max_steps;
    return std::move(best_);
  }

 private:
  bool stopped() const { return result_.hit_max_count || result_.hit_max_steps; }

  // Can atom v (next in order) map to w, given the images of v's already-mapped neighbours?
  bool consistent(int64_t v, int64_t w) const {
    if (used_[w] || classes_[v] != classes_[w]) return false;
    int64_t mapped_v = 0, mapped_w = 0;
    for (const auto& nb : adj_[v]) {
      if (image_[nb.atom] < 0) continue;
      ++mapped_v;
      if (bond_label_between(adj_, image_[nb.atom], w) != nb.bond_label) return false;
    }
    for (const auto& nb : adj_[w]) mapped_w += used_[nb.atom];
    return mapped_v == mapped_w;
  }

  // Running moments of the mapped pairs (X[image[v]], Y[v]): sums, squared norms, correlation.
  struct Moments {
    double sx[3] = {0, 0, 0}, sy[3] = {0, 0, 0}, sxx = 0, syy = 0, S[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  };

  // Adds the pair (v -> w) to the moments of depth and returns whether the mapped atoms' aligned
  // SSE can still beat the best: false cuts the branch. At the last atom, a better map is kept.
  bool within_bound(int64_t depth, int64_t v, int64_t w) {
    const Moments& a = moments_[depth];
    Moments& b = moments_[depth + 1];
    const double* x = X_ + 3 * w;
    const double* y = Y_ + 3 * v;
    b.sxx = a.sxx + x[0] * x[0] + x[1] * x[1] + x[2] * x[2];
    b.syy = a.syy + y[0] * y[0] + y[1] * y[1] + y[2] * y[2];
    for (int i = 0; i < 3; ++i) {
      b.sx[i] = a.sx[i] + x[i];
      b.sy[i] = a.sy[i] + y[i];
      for (int j = 0; j < 3; ++j) b.S[3 * i + j] = a.S[3 * i + j] + x[i] * y[j];
    }
    const double m = double(depth + 1);
    if (m < 3) return true;  // one or two atoms align (almost) exactly: no useful bound
    double S[9];
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) S[3 * i + j] = b.S[3 * i + j] - b.sx[i] * b.sy[j] / m;
    const double E0 = 0.5 * (b.sxx - (b.sx[0] * b.sx[0] + b.sx[1] * b.sx[1] + b.sx[2] * b.sx[2]) / m +
                             b.syy - (b.sy[0] * b.sy[0] + b.sy[1] * b.sy[1] + b.sy[2] * b.sy[2]) / m);
    const double stop_below = E0 - 0.5 * best_.sse;  // lambda below it: SSE above the best
    const double lambda = qcp_max_eigenvalue(S, E0, stop_below);
    if (!(lambda >= stop_below)) return false;
    if (depth + 1 == n_) {
      const double sse = std::max(0.0, 2.0 * (E0 - lambda));
      if (sse < best_.sse) {
        best_.sse = sse;
        best_.perm.assign(image_.begin(), image_.end());
      }
      return false;  // a leaf: recorded, nothing below it
    }
    return true;
  }

  void extend(int64_t depth) {
    if (depth == n_) {
      result_.perms.insert(result_.perms.end(), image_.begin(), image_.end());
      if (++result_.count >= max_count_) result_.hit_max_count = true;
      return;
    }
    const int64_t v = order_[depth];
    // Candidates, on the shared stack: the neighbours of a mapped neighbour's image, or the whole
    // class of v. Indices, not pointers: deeper calls push onto the same vector.
    const size_t base = stack_.size();
    bool near = false;
    for (const auto& nb : adj_[v]) {
      if (image_[nb.atom] < 0) continue;
      for (const auto& m : adj_[image_[nb.atom]]) stack_.push_back(m.atom);
      near = true;
      break;
    }
    if (!near) stack_.insert(stack_.end(), members_.begin() + class_start_[classes_[v]],
                             members_.begin() + class_start_[classes_[v] + 1]);
    // By cost when given; else v's own atom first, so the identity is the first automorphism found.
    const auto first = stack_.begin() + base;
    if (cost_) {
      const double* row = cost_ + v * n_;
      std::stable_sort(first, stack_.end(), [&](int64_t a, int64_t b) { return row[a] < row[b]; });
    } else if (const auto self = std::find(first, stack_.end(), v); self != stack_.end()) {
      std::rotate(first, self, self + 1);
    }
    const size_t top = stack_.size();
    for (size_t k = base; k < top; ++k) {
      const int64_t w = stack_[k];
      if (stopped()) break;
      if (++steps_ > max_steps_) { result_.hit_max_steps = true; break; }
      if (!consistent(v, w)) continue;
      image_[v] = w;
      used_[w] = 1;
      if (!X_ || within_bound(depth, v, w)) extend(depth + 1);
      image_[v] = -1;
      used_[w] = 0;
    }
    stack_.resize(base);
  }

  const double* cost_;
  Adjacency adj_;
  std::vector<int64_t> classes_, order_;
  int64_t n_, max_count_, max_steps_, steps_ = 0;
  std::vector<int64_t> image_;
  std::vector<char> used_;
  std::vector<int64_t> class_start_, members_;  // atoms of class c: members_[class_start_[c] ..]
  std::vector<int64_t> stack_;                   // candidate lists of the open search levels
  AutomorphismResult result_;
  const double* X_ = nullptr;  // bounded mode (run_bounded): centred coordinates
  const double* Y_ = nullptr;
  std::vector<Moments> moments_;
  BestAutomorphism best_;
};

}  // namespace

std::vector<int64_t> symmetry_classes(const LabelledGraph& graph) {
  return refine_classes(graph, Adjacency(graph));
}

AutomorphismResult enumerate_automorphisms(const LabelledGraph& graph, int64_t max_count,
                                           int64_t max_steps, const double* cost) {
  return Search(graph, max_count, max_steps, cost).run();
}

BestAutomorphism best_automorphism(const LabelledGraph& graph, const double* X, const double* Y,
                                   const int64_t* start, int64_t max_steps, const double* cost) {
  const int64_t n = graph.n_atoms;
  // Centred copies: the moments' sums stay small, so the bound keeps its precision.
  std::vector<double> x(X, X + 3 * n), y(Y, Y + 3 * n);
  for (auto* points : {&x, &y})
    for (int c = 0; c < 3; ++c) {
      double mean = 0.0;
      for (int64_t i = 0; i < n; ++i) mean += (*points)[3 * i + c];
      mean /= std::max<int64_t>(n, 1);
      for (int64_t i = 0; i < n; ++i) (*points)[3 * i + c] -= mean;
    }
  double start_sse = 0.0;
  {
    double S[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0}, E0 = 0.0;
    for (int64_t v = 0; v < n; ++v) {
      const double* p = &x[3 * start[v]];
      const double* q = &y[3 * v];
      for (int i = 0; i < 3; ++i) {
        E0 += 0.5 * (p[i] * p[i] + q[i] * q[i]);
        for (int j = 0; j < 3; ++j) S[3 * i + j] += p[i] * q[j];
      }
    }
    start_sse = std::max(0.0, 2.0 * (E0 - qcp_max_eigenvalue(S, E0)));
  }
  return Search(graph, 1, max_steps, cost).run_bounded(x.data(), y.data(), std::vector<int64_t>(start, start + n),
                                                       start_sse);
}

void best_automorphisms(const LabelledGraph& graph, int64_t B, const double* X, const double* Y,
                        const int64_t* start, int64_t max_steps, const double* cost, int64_t* perm, double* sse,
                        bool* exact) {
  const int64_t n = graph.n_atoms;
#pragma omp parallel for schedule(dynamic, 1) if (B > 1)
  for (int64_t b = 0; b < B; ++b) {
    const BestAutomorphism best = best_automorphism(graph, X + b * n * 3, Y + b * n * 3, start + b * n, max_steps,
                                                    cost ? cost + b * n * n : nullptr);
    std::copy(best.perm.begin(), best.perm.end(), perm + b * n);
    sse[b] = best.sse;
    exact[b] = best.exact;
  }
}

}  // namespace ck
