"""Hostile-but-real inputs for the fuzz suite: SMILES from a real corpus (RDKit's shipped NCI file)
and built from fragments users meet (salts, metals, bridged rings, macrocycles, stereo, charges),
junk strings, and SDF files corrupted in controlled ways."""
import gzip
import os

from hypothesis import strategies as st
from rdkit import RDConfig


def _nci_smiles() -> list:
    with open(os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi")) as handle:
        return [line.split()[0] for line in handle if line.strip()]


NCI = _nci_smiles()
# heavy-atom count kept small enough that ETKDG is quick; the corpus still spans charges, nitro
# groups, sulfur, halogens, fused rings and unusual valences
NCI_SMALL = [s for s in NCI if s.count("[") < 4 and 4 <= sum(c.isalpha() and c.isupper() for c in s) <= 22]

CORES = ["c1ccccc1", "C1CCCCC1", "C1CC2CCC1C2", "C1C2CC3CC1CC(C2)C3", "c1ccc2ccccc2c1", "C1CCNCC1",
         "c1ccncc1", "O=C1CCCN1", "C1=CC=CS1", "C12(CC1)CC2"]
SUBSTITUENTS = ["C", "O", "N", "F", "Cl", "Br", "C(=O)O", "C(=O)[O-]", "[NH3+]", "C#N", "[N+](=O)[O-]",
                "OC", "C(F)(F)F", "S(=O)(=O)N", "[C@H](N)C(=O)O", "[C@@H](O)C", "/C=C/C", "/C=C\\C",
                "C(C)(C)C"]
SALTS = ["[Na+]", "[Cl-]", "[K+]", "O", "[Br-]", "CCO", "[Mg+2]", "Cl"]
METALS = ["[Fe+2]", "[Pt]", "[Cu+]", "[Zn]", "[Fe+2]1234C5=C1C2=C3C45", "C[Hg]C", "[SiH4]", "B(O)(O)c1ccccc1"]
STEREO = ["C[C@H](N)C(=O)O", "C[C@@H](O)CC", "C/C=C/C", "C/C=C\\C", "F/C=C/F", "C[C@H]1CC[C@@H](C)CC1",
          "O[C@H]1[C@H](O)[C@@H](O)[C@H](O)[C@@H](O)[C@@H]1O", "C[C@]12CC[C@H](C1)C2(C)C"]
JUNK = ["", "C1CC", "c1cccc1", "C(C", "[Xx]", "CC)", "N#N#N", "C%99", "ClCl(Cl)(Cl)(Cl)Cl", "*", "[H]", "C.C",
        "[2H]C([2H])([2H])O", "c1ccccc1" * 12]


def macrocycle(size: int) -> str:
    return "C1" + "C" * (size - 2) + "C1"


decorated = st.builds(lambda core, subs: core + "".join(f"({s})" for s in subs),
                      st.sampled_from(CORES), st.lists(st.sampled_from(SUBSTITUENTS), max_size=3))
salts = st.builds(lambda a, b: f"{a}.{b}", st.sampled_from(NCI_SMALL[:200] + CORES), st.sampled_from(SALTS))
molecule_smiles = st.one_of(st.sampled_from(NCI_SMALL), decorated, st.sampled_from(STEREO),
                            st.builds(macrocycle, st.integers(8, 24)))
hostile_smiles = st.one_of(molecule_smiles, salts, st.sampled_from(METALS), st.sampled_from(JUNK),
                           st.text(alphabet="CNOc1()=#[]@+-.Hl234/\\", max_size=16))


def _records(text: str) -> list:
    return [r + "$$$$\n" for r in text.split("$$$$\n") if r.strip()]


CORRUPTIONS = ("truncate", "drop_line", "bad_number", "nan_coordinate", "flatten", "counts_line", "binary",
               "duplicate", "empty", "gzip_truncated", "atom_symbol")


def corrupt(sdf_text: str, how: str, where: int) -> bytes:
    """The SDF text damaged one way (`how`, one of CORRUPTIONS) at a position chosen by `where`."""
    lines = sdf_text.splitlines(keepends=True)
    atom_lines = [k for k, line in enumerate(lines) if len(line.split()) >= 10 and line[:10].strip()
                  .replace(".", "", 1).replace("-", "", 1).isdigit()]
    k = atom_lines[where % len(atom_lines)] if atom_lines else 0
    if how == "truncate":
        return sdf_text.encode()[: where % max(len(sdf_text), 1)]
    if how == "drop_line":
        return "".join(lines[:k] + lines[k + 1:]).encode()
    if how in ("bad_number", "nan_coordinate", "atom_symbol"):
        fields = lines[k].split()
        if how == "bad_number":
            fields[0] = "1.2.3"
        elif how == "nan_coordinate":
            fields[where % 3] = "nan"
        else:
            fields[3] = "Qq"
        lines[k] = " ".join(fields) + "\n"
        return "".join(lines).encode()
    if how == "flatten":  # every z coordinate 0: a 2D drawing
        out = []
        for j, line in enumerate(lines):
            out.append(line[:20] + "    0.0000" + line[30:] if j in atom_lines else line)
        return "".join(out).encode()
    if how == "counts_line":
        counts = [j for j, line in enumerate(lines) if line.rstrip().endswith("V2000")]
        if counts:
            lines[counts[where % len(counts)]] = "999999  0  0  0  0  0  0  0  0  0999 V2000\n"
        return "".join(lines).encode()
    if how == "binary":
        data = bytearray(sdf_text.encode())
        if data:
            data[where % len(data)] = 0xFF
        return bytes(data)
    if how == "duplicate":
        records = _records(sdf_text)
        return "".join(records + records[: 1 + where % max(len(records), 1)]).encode()
    if how == "empty":
        return b""
    if how == "gzip_truncated":
        packed = gzip.compress(sdf_text.encode())
        return packed[: max(10, where % len(packed))]
    raise ValueError(how)
