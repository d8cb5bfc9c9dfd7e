// Reader of the graph part of RDKit's binary Mol pickle, and the automorphism labels built on it.
// Layout (little-endian, RDKit MolPickler, versions 14.0-16.x), the parts read here:
//   header   int32 0xDEADBEEF, int32 tag VERSION (0), int32 major, minor, patch
//   counts   int32 n_atoms, int32 n_bonds, uint8 flags; atom indices below are T = uint8 when
//            n_atoms <= 255, else int32
//   atoms    tag BEGINATOM, then per atom: uint8 atomic number, uint8 flags, int32 data flags and
//            the data they announce, then the optional atom-map number and dummy label
//   bonds    tag BEGINBOND, then per bond: T begin, T end, uint8 flags and what they announce
//   rings    optional: a ring tag, uint32 n_rings, per ring T size and T atoms
#include "mol_pickle.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>

namespace ck {
namespace {

// MolPickler::Tags values used here.
constexpr uint8_t kBeginAtom = 1, kBeginBond = 11, kAtomMapNumber = 24, kAtomDummyLabel = 44;
constexpr uint8_t kBeginSSSR = 20, kBeginSymmSSSR = 66, kBeginFastFind = 67, kBeginRingsOther = 68;
constexpr int32_t kEndianId = static_cast<int32_t>(0xDEADBEEF);
constexpr int kFirstVersion = 14000, kEndVersion = 17000;  // 1000 * major + 10 * minor + patch

// Atom flags byte.
constexpr unsigned kAtomCoords = 1u << 7, kAtomQuery = 1u << 4, kAtomMapped = 1u << 3,
                   kAtomDummyLabelled = 1u << 2, kAtomMonomer = 1u << 1;
// Atom data flags: bit k announces one field (1: legacy mass, 2: charge, ... 8: isotope).
constexpr int32_t kDataMass = 1 << 0, kDataCharge = 1 << 1, kDataRadicals = 1 << 7, kDataIsotope = 1 << 8;
constexpr int32_t kDataKnown = (1 << 9) - 1;
// Bond flags byte.
constexpr unsigned kBondQuery = 1u << 4, kBondType = 1u << 3, kBondDir = 1u << 2, kBondStereo = 1u << 1,
                   kBondEndpoints = 1u << 0;
constexpr int64_t kSingleBond = 1;

// Bounds-checked little-endian cursor; any read past the end sets `failed`.
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  bool failed = false;

  template <typename V>
  V read() {
    V v{};
    if (static_cast<size_t>(end - p) < sizeof(V)) {
      failed = true;
      p = end;
      return v;
    }
    std::memcpy(&v, p, sizeof(V));
    p += sizeof(V);
    return v;
  }
  void skip(size_t n) {
    if (static_cast<size_t>(end - p) < n) {
      failed = true;
      p = end;
    } else {
      p += n;
    }
  }
  void skip_string() { skip(read<uint32_t>()); }
};

template <typename T>
int64_t read_index(Cursor& in) {
  return static_cast<int64_t>(in.read<T>());
}

std::string read_atom(Cursor& in, MolGraphFields& f) {
  f.atomic_num.push_back(in.read<uint8_t>());
  const unsigned flags = in.read<uint8_t>();
  if (flags & (kAtomQuery | kAtomMonomer)) return "query atom or PDB monomer info";
  if (flags & kAtomCoords) in.skip(3 * sizeof(float));
  const int32_t data = in.read<int32_t>();
  if ((data & ~kDataKnown) || (data & kDataMass)) return "unknown atom data flags";
  int64_t charge = 0, radicals = 0, isotope = 0;
  if (data & kDataCharge) charge = in.read<int8_t>();
  for (int bit = 2; bit <= 6; ++bit)  // chirality, hybridization, explicit Hs, explicit and implicit valence
    if (data & (1 << bit)) in.skip(1);
  if (data & kDataRadicals) radicals = in.read<int8_t>();
  if (data & kDataIsotope) isotope = in.read<uint32_t>();
  if (radicals < 0) return "negative radical count";
  f.formal_charge.push_back(charge);
  f.radical_electrons.push_back(radicals);
  f.isotope.push_back(isotope);
  if (flags & kAtomMapped) {
    if (in.read<uint8_t>() != kAtomMapNumber) return "atom-map tag missing";
    if (in.read<int8_t>() < 0) in.skip(sizeof(int32_t));  // numbers outside 0..127 follow as int32
  }
  if (flags & kAtomDummyLabelled) {
    if (in.read<uint8_t>() != kAtomDummyLabel) return "dummy-label tag missing";
    in.skip_string();
  }
  return in.failed ? "truncated atom" : "";
}

template <typename T>
std::string read_bond(Cursor& in, MolGraphFields& f) {
  const int64_t begin = read_index<T>(in), end = read_index<T>(in), n = f.n_atoms();
  if (begin < 0 || begin >= n || end < 0 || end >= n || begin == end) return "bond atom index out of range";
  const unsigned flags = in.read<uint8_t>();
  if (flags & kBondQuery) return "query bond";
  const int64_t type = (flags & kBondType) ? in.read<uint8_t>() : kSingleBond;
  if (flags & kBondDir) in.skip(1);
  if (flags & kBondStereo) {
    in.skip(1);
    in.skip(sizeof(T) * in.read<uint8_t>());  // the stereo atoms
  }
  if (flags & kBondEndpoints) {
    in.skip_string();
    in.skip_string();
  }
  f.bonds.push_back(begin);
  f.bonds.push_back(end);
  f.bond_type.push_back(type);
  return in.failed ? "truncated bond" : "";
}

template <typename T>
std::string read_rings(Cursor& in, MolGraphFields& f) {
  f.ring_count.assign(f.n_atoms(), 0);
  const uint8_t tag = in.read<uint8_t>();
  if (tag != kBeginSSSR && tag != kBeginSymmSSSR && tag != kBeginFastFind && tag != kBeginRingsOther)
    return in.failed ? "truncated after the bonds" : "";  // no ring info: what follows is not read
  const uint32_t n_rings = in.read<uint32_t>();
  for (uint32_t r = 0; r < n_rings && !in.failed; ++r) {
    const int64_t size = read_index<T>(in);
    if (size < 0 || size > f.n_atoms()) return "ring size out of range";
    for (int64_t k = 0; k < size; ++k) {
      const int64_t atom = read_index<T>(in);
      if (in.failed) break;
      if (atom < 0 || atom >= f.n_atoms()) return "ring atom index out of range";
      ++f.ring_count[atom];
    }
  }
  return in.failed ? "truncated ring info" : "";
}

template <typename T>
std::string read_body(Cursor& in, int32_t n_atoms, int32_t n_bonds, MolGraphFields& f) {
  in.skip(1);  // molecule flags
  if (in.read<uint8_t>() != kBeginAtom) return "atom block missing";
  for (int32_t i = 0; i < n_atoms; ++i)
    if (auto why = read_atom(in, f); !why.empty()) return why;
  if (in.read<uint8_t>() != kBeginBond) return "bond block missing";
  for (int32_t i = 0; i < n_bonds; ++i)
    if (auto why = read_bond<T>(in, f); !why.empty()) return why;
  return read_rings<T>(in, f);
}

}  // namespace

std::string read_mol_pickle(const uint8_t* bytes, size_t size, MolGraphFields& fields) {
  fields = MolGraphFields{};
  Cursor in{bytes, bytes + size};
  if (in.read<int32_t>() != kEndianId || in.read<int32_t>() != 0) return "not an RDKit Mol pickle";
  const int32_t major = in.read<int32_t>(), minor = in.read<int32_t>(), patch = in.read<int32_t>();
  if (minor < 0 || minor > 100 || patch < 0 || patch > 100) return "unreasonable pickle version";
  const int64_t version = 1000LL * major + 10 * minor + patch;
  if (version < kFirstVersion || version >= kEndVersion) return "pickle version outside 14.0-16.x";
  const int32_t n_atoms = in.read<int32_t>(), n_bonds = in.read<int32_t>();
  if (in.failed || n_atoms <= 0 || n_bonds < 0) return "bad atom or bond count";
  // Every atom and bond takes at least 6 and 3 bytes: counts beyond that are corrupt, not huge.
  if (static_cast<size_t>(n_atoms) > size / 6 || static_cast<size_t>(n_bonds) > size / 3) return "bad atom or bond count";
  for (auto* v : {&fields.atomic_num, &fields.formal_charge, &fields.isotope, &fields.radical_electrons}) v->reserve(n_atoms);
  return n_atoms > 255 ? read_body<int32_t>(in, n_atoms, n_bonds, fields)
                       : read_body<uint8_t>(in, n_atoms, n_bonds, fields);
}

LabelledMolGraph label_mol_graph(const MolGraphFields& f, const std::vector<int64_t>& order_label,
                                 const std::vector<int64_t>& terminal, const std::vector<int64_t>& centre) {
  const int64_t n = f.n_atoms(), n_bonds = static_cast<int64_t>(f.bond_type.size());
  std::vector<bool> charge_free(n, false);
  for (int64_t t : terminal) charge_free[t] = true;
  LabelledMolGraph g;
  g.atom_labels.resize(n);
  std::map<std::array<int64_t, 5>, int64_t> index;  // first occurrence numbers the label
  for (int64_t i = 0; i < n; ++i) {
    const std::array<int64_t, 5> key{f.atomic_num[i], charge_free[i] ? 0 : f.formal_charge[i], f.isotope[i],
                                     f.radical_electrons[i], f.ring_count.empty() ? 0 : f.ring_count[i]};
    g.atom_labels[i] = index.emplace(key, static_cast<int64_t>(index.size())).first->second;
  }
  g.bonds = f.bonds;
  g.bond_labels.resize(n_bonds);
  bool zero_order = false;
  for (int64_t b = 0; b < n_bonds; ++b) {
    const int64_t type = f.bond_type[b];
    g.bond_labels[b] = (type >= 0 && type < static_cast<int64_t>(order_label.size())) ? order_label[type] : 0;
    zero_order |= g.bond_labels[b] == 0;
  }
  if (zero_order) g.bond_labels = f.bond_type;
  std::map<std::pair<int64_t, int64_t>, int64_t> bond_of;
  if (!terminal.empty())
    for (int64_t b = 0; b < n_bonds; ++b) {
      const int64_t i = f.bonds[2 * b], j = f.bonds[2 * b + 1];
      bond_of[{std::min(i, j), std::max(i, j)}] = b;
    }
  for (size_t k = 0; k < terminal.size(); ++k) {
    const auto it = bond_of.find({std::min(terminal[k], centre[k]), std::max(terminal[k], centre[k])});
    if (it != bond_of.end()) g.bond_labels[it->second] = kEitherBondLabel;
  }
  return g;
}

}  // namespace ck
