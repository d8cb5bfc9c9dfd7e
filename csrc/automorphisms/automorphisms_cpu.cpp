#include "automorphisms.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

namespace ck {
namespace {

struct Neighbour {
  int64_t atom;
  int64_t bond_label;
};

using Adjacency = std::vector<std::vector<Neighbour>>;

Adjacency build_adjacency(const LabelledGraph& g) {
  Adjacency adj(g.n_atoms);
  for (int64_t e = 0; e < g.n_bonds; ++e) {
    const int64_t a = g.bonds[2 * e], b = g.bonds[2 * e + 1];
    if (a < 0 || b < 0 || a >= g.n_atoms || b >= g.n_atoms)
      throw std::invalid_argument("bond " + std::to_string(e) + " joins atom indices outside [0, " +
                                  std::to_string(g.n_atoms) + ")");
    if (a == b) throw std::invalid_argument("bond " + std::to_string(e) + " is a self-loop");
    adj[a].push_back({b, g.bond_labels[e]});
    adj[b].push_back({a, g.bond_labels[e]});
  }
  return adj;
}

// Replaces each atom's signature by its rank among the distinct signatures.
template <typename Signature>
int64_t rank_signatures(const std::vector<Signature>& signatures, std::vector<int64_t>& classes) {
  std::map<Signature, int64_t> rank;
  for (const auto& s : signatures) rank.emplace(s, 0);
  int64_t next = 0;
  for (auto& kv : rank) kv.second = next++;
  for (size_t i = 0; i < signatures.size(); ++i) classes[i] = rank[signatures[i]];
  return next;
}

std::vector<int64_t> refine_classes(const LabelledGraph& g, const Adjacency& adj) {
  const int64_t n = g.n_atoms;
  std::vector<int64_t> classes(n);
  std::vector<std::pair<int64_t, std::vector<std::pair<int64_t, int64_t>>>> signature(n);
  for (int64_t i = 0; i < n; ++i) signature[i].first = g.atom_labels[i];
  int64_t n_classes = rank_signatures(signature, classes);
  while (true) {
    for (int64_t i = 0; i < n; ++i) {
      signature[i].first = classes[i];
      auto& around = signature[i].second;
      around.clear();
      for (const auto& nb : adj[i]) around.emplace_back(nb.bond_label, classes[nb.atom]);
      std::sort(around.begin(), around.end());
    }
    const int64_t refined = rank_signatures(signature, classes);
    if (refined == n_classes) return classes;  // a refinement only ever splits classes
    n_classes = refined;
  }
}

// Search order: BFS within each connected component, components started at their atom of the
// rarest class, so that every atom after a component's first has a mapped neighbour.
std::vector<int64_t> search_order(const Adjacency& adj, const std::vector<int64_t>& classes) {
  const int64_t n = (int64_t)adj.size();
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
      : cost_(cost), adj_(build_adjacency(g)), classes_(refine_classes(g, adj_)),
        order_(search_order(adj_, classes_)), n_(g.n_atoms), max_count_(max_count),
        max_steps_(max_steps), image_(n_, -1), used_(n_, 0) {
    for (int64_t c = 0; c < n_; ++c) members_.emplace_back();
    for (int64_t i = 0; i < n_; ++i) members_[classes_[i]].push_back(i);
  }

  AutomorphismResult run() {
    if (max_count_ > 0) extend(0);
    return std::move(result_);
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

  void extend(int64_t depth) {
    if (depth == n_) {
      result_.perms.insert(result_.perms.end(), image_.begin(), image_.end());
      if (++result_.count >= max_count_) result_.hit_max_count = true;
      return;
    }
    const int64_t v = order_[depth];
    // Candidates: the neighbours of a mapped neighbour's image, or the whole class of v.
    const std::vector<int64_t>* pool = &members_[classes_[v]];
    std::vector<int64_t> near;
    for (const auto& nb : adj_[v]) {
      if (image_[nb.atom] < 0) continue;
      for (const auto& m : adj_[image_[nb.atom]]) near.push_back(m.atom);
      pool = &near;
      break;
    }
    // By cost when given; else v's own atom first, so the identity is the first automorphism found.
    std::vector<int64_t> candidates(*pool);
    if (cost_) {
      const double* row = cost_ + v * n_;
      std::stable_sort(candidates.begin(), candidates.end(), [&](int64_t a, int64_t b) { return row[a] < row[b]; });
    } else {
      std::stable_partition(candidates.begin(), candidates.end(), [&](int64_t w) { return w == v; });
    }
    for (int64_t w : candidates) {
      if (stopped()) return;
      if (++steps_ > max_steps_) { result_.hit_max_steps = true; return; }
      if (!consistent(v, w)) continue;
      image_[v] = w;
      used_[w] = 1;
      extend(depth + 1);
      image_[v] = -1;
      used_[w] = 0;
    }
  }

  const double* cost_;
  Adjacency adj_;
  std::vector<int64_t> classes_, order_;
  int64_t n_, max_count_, max_steps_, steps_ = 0;
  std::vector<int64_t> image_;
  std::vector<char> used_;
  std::vector<std::vector<int64_t>> members_;
  AutomorphismResult result_;
};

}  // namespace

std::vector<int64_t> symmetry_classes(const LabelledGraph& graph) {
  return refine_classes(graph, build_adjacency(graph));
}

AutomorphismResult enumerate_automorphisms(const LabelledGraph& graph, int64_t max_count,
                                           int64_t max_steps, const double* cost) {
  return Search(graph, max_count, max_steps, cost).run();
}

}  // namespace ck
