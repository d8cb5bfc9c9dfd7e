// The labelled graph of an RDKit molecule read from its binary pickle (Mol.ToBinary()), so that
// Python pays one RDKit call per molecule instead of one per atom and bond. Host-only.
//
// The format is RDKit's MolPickler, versioned major.minor.patch. The reader knows the atom, bond
// and ring-info layout of versions 14.0 up to (not including) 17.0 and reads nothing past the ring
// info. It refuses what it does not read -- another version, query atoms or bonds, PDB monomer
// info, truncated or inconsistent bytes -- and says why, so the caller can read the Mol through
// RDKit's per-atom API instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ck {

// What the automorphism labels are made of, one entry per atom or bond.
struct MolGraphFields {
  std::vector<int64_t> atomic_num, formal_charge, isotope, radical_electrons;
  std::vector<int64_t> ring_count;  // rings (RDKit's ring info) the atom is in; 0 without ring info
  std::vector<int64_t> bonds;       // n_bonds x 2: begin and end atom
  std::vector<int64_t> bond_type;   // RDKit Bond::BondType value
  int64_t n_atoms() const { return static_cast<int64_t>(atomic_num.size()); }
};

// Fills `fields` from the pickle; returns "" on success, otherwise why it was not read.
std::string read_mol_pickle(const uint8_t* bytes, size_t size, MolGraphFields& fields);

constexpr int64_t kEitherBondLabel = -1;  // a symmetrized conjugated terminal bond: single or double

struct LabelledMolGraph {
  std::vector<int64_t> atom_labels;  // n_atoms
  std::vector<int64_t> bonds;        // n_bonds x 2
  std::vector<int64_t> bond_labels;  // n_bonds
};

// The automorphism search's labels (the rule of RDKit's atom and bond matching over a whole
// automorphism). Atoms: equal (element, formal charge, isotope, radical electrons, ring count),
// numbered in order of first occurrence; the charge of the terminal atoms counts as 0. Bonds:
// order_label[bond_type] (twice the bond order: single 2, aromatic 3, double 4, triple 6), or the
// raw bond type for every bond when some bond has order label 0 (ionic, hydrogen and zero-order
// bonds); bonds between terminal[k] and centre[k] get kEitherBondLabel.
LabelledMolGraph label_mol_graph(const MolGraphFields& fields, const std::vector<int64_t>& order_label,
                                 const std::vector<int64_t>& terminal, const std::vector<int64_t>& centre);

}  // namespace ck
