// Automorphisms of a labelled undirected graph (a molecular graph): every permutation p of the
// atoms with label[p[i]] == label[i] that maps each bond (i, j) to a bond (p[i], p[j]) of the same
// bond label. Host-only: graph search is branchy, sequential work with no CUDA counterpart.
//
// Atoms are first split into symmetry classes by colour refinement (1-dimensional
// Weisfeiler-Leman: label, then the multiset of (bond label, neighbour class), iterated to a fixed
// point); an automorphism maps every atom into its own class, which prunes the search to near
// linear time on molecules. The search then extends a partial map atom by atom in BFS order,
// trying only unused atoms of the same class bonded alike to the already-mapped neighbours.
#pragma once

#include <cstdint>
#include <vector>

namespace ck {

struct LabelledGraph {
  int64_t n_atoms = 0;
  const int64_t* atom_labels = nullptr;  // n_atoms
  int64_t n_bonds = 0;
  const int64_t* bonds = nullptr;        // n_bonds x 2, each undirected bond once
  const int64_t* bond_labels = nullptr;  // n_bonds
};

struct AutomorphismResult {
  std::vector<int64_t> perms;  // count x n_atoms, row k maps atom i to perms[k * n + i]
  int64_t count = 0;
  bool hit_max_count = false;  // enumeration stopped at max_count
  bool hit_max_steps = false;  // enumeration stopped at the search-step budget
};

// Symmetry class of every atom (0 .. classes-1); atoms in different classes are never swapped.
std::vector<int64_t> symmetry_classes(const LabelledGraph& graph);

// Enumerates automorphisms until max_count are found or max_steps candidate atoms have been tried,
// whichever comes first; never runs unbounded. Without cost the identity comes first. With cost
// (n x n, row-major), atom v tries its images w in increasing cost[v * n + w]: the first
// automorphism found is then a greedy, bond-preserving assignment (the geometry-guided fallback
// for symmetry groups too large to enumerate).
AutomorphismResult enumerate_automorphisms(const LabelledGraph& graph, int64_t max_count,
                                           int64_t max_steps, const double* cost = nullptr);

// The automorphism p minimising the aligned sum of squared deviations (A^2) of X[p] onto Y
// (n x 3 each, row-major: row v of X[p] is X[p[v]]), by branch and bound over the same search: a
// partial map's bound is the aligned SSE of its mapped atoms alone (QCP on their running moments),
// which can only grow as atoms are added and never exceeds the full map's SSE, so a branch whose
// bound reaches the best SSE found is cut. Starts from the automorphism `start` (its SSE the first
// bound; the guided search's answer) and tries images in increasing cost[v * n + w] when cost is
// given. exact: the search ran to its end within max_steps candidate atoms; otherwise perm is the
// best found, an upper bound.
struct BestAutomorphism {
  std::vector<int64_t> perm;
  double sse = 0.0;
  bool exact = false;
};

BestAutomorphism best_automorphism(const LabelledGraph& graph, const double* X, const double* Y,
                                   const int64_t* start, int64_t max_steps, const double* cost = nullptr);

// best_automorphism for B pairs (X, Y: B x n x 3; start: B x n; cost: B x n x n or null), pairs in
// parallel (OpenMP): perm (B x n), sse (B) and exact (B) written per pair.
void best_automorphisms(const LabelledGraph& graph, int64_t B, const double* X, const double* Y,
                        const int64_t* start, int64_t max_steps, const double* cost, int64_t* perm, double* sse,
                        bool* exact);

}  // namespace ck
