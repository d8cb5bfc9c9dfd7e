"""Conformer ensembles per molecule from the files users have: SDF, a GEOM rdkit_folder, a cache.

An Ensemble is one molecule's heavy-atom graph with its conformers as a (C, N, 3) array. SDF records
of one molecule share a title (else their canonical SMILES) and are grouped by it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from conformers._io import fork_pool
from conformers.data.sdf import is_sdf, read_sdf_text


@dataclass
class Ensemble:
    key: str                # the SDF title / molecule name, or canonical SMILES where there is none
    mol: Chem.Mol           # heavy atoms only, no conformers, stereo as given
    coordinates: np.ndarray  # (C, N, 3) float64, Angstrom, mol's atom order

    @property
    def smiles(self) -> str:
        return Chem.MolToSmiles(self.mol)

    @property
    def skeleton(self) -> str:
        return Chem.MolToSmiles(self.mol, isomericSmiles=False)


class EnsembleReadError(ValueError):
    pass


def _heavy(mol: Chem.Mol):
    """(heavy-atom mol without conformers, indices of its atoms in mol)."""
    keep = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() != 1]
    heavy = Chem.RemoveHs(mol, sanitize=False) if len(keep) < mol.GetNumAtoms() else Chem.Mol(mol)
    if heavy.GetNumAtoms() != len(keep):  # RemoveHs kept some H (e.g. H2, isotopic H): keep all
        heavy, keep = Chem.Mol(mol), list(range(mol.GetNumAtoms()))
    heavy.RemoveAllConformers()
    return heavy, keep


def _v2000_layout(block: str):
    """(graph signature, atom lines) of a V2000 record, or None for anything else."""
    lines = block.split("\n")
    if len(lines) < 4 or "V2000" not in lines[3]:
        return None
    try:
        n_atoms, n_bonds = int(lines[3][0:3]), int(lines[3][3:6])
    except ValueError:
        return None
    atom_lines = lines[4:4 + n_atoms]
    # element, mass difference, charge per atom; atoms and order per bond (not the wedge column,
    # which writers derive from each conformer's 3D coordinates), and the property block
    signature = ("".join(l[31:39] for l in atom_lines), "".join(l[0:9] for l in lines[4 + n_atoms:4 + n_atoms + n_bonds]),
                 "\n".join(l for l in lines[4 + n_atoms + n_bonds:] if l.startswith("M  ")))
    return signature, atom_lines


def read_sdf(path: str) -> tuple[dict[str, Ensemble], list[dict]]:
    """Ensembles of an SDF file, keyed by title (or canonical SMILES), and the records it could not
    read ({"key", "reason", "detail"}). Records that repeat the previous record's graph (a molecule's
    conformers, the usual layout) reuse its parse and have only their coordinates read."""
    try:
        text = read_sdf_text(path)
    except ValueError as exc:
        raise EnsembleReadError(str(exc)) from exc
    # each "$$$$" line ends a record: drop exactly the newline that follows it (a record may start
    # with an empty title line, which must stay)
    parts = text.split("$$$$")
    blocks = [b for b in [parts[0]] + [p[2:] if p.startswith("\r\n") else p[1:] if p.startswith("\n") else p
                                        for p in parts[1:]] if b.strip()]
    if not blocks:
        raise EnsembleReadError(f"{path} holds no molecules (empty SDF)")
    groups: dict[str, tuple] = {}
    failures = []
    last = None  # (signature, heavy indices, key) of the previous fully parsed record
    for number, block in enumerate(blocks, 1):
        layout = _v2000_layout(block)
        title = block.split("\n", 1)[0].strip()
        if layout is not None and last is not None and layout[0] == last[0] and title == last[2]:
            # same graph as the previous record: keep only the coordinate columns, parsed in bulk below
            groups[title][2].append((layout[1], last[1]))
            continue
        mol = Chem.MolFromMolBlock(block, removeHs=False)
        if mol is None or mol.GetNumConformers() == 0:
            failures.append({"key": title or f"record {number}", "reason": "unreadable_record",
                             "detail": f"{path}: record {number} is not a valid mol block"})
            last = None
            continue
        heavy, keep = _heavy(mol)
        key = title or Chem.MolToSmiles(heavy)
        xyz = mol.GetConformer().GetPositions()[keep]
        if key in groups and not same_graph(groups[key][0], heavy):
            match = atom_map(groups[key][0], heavy)
            if match is None:
                failures.append({"key": key, "reason": "inconsistent_records",
                                 "detail": f"{path}: record {number} titled {key!r} is another molecule"})
                last = None
                continue
            xyz = xyz[match]
        groups.setdefault(key, (heavy, [], []))[1].append(xyz)
        groups[key][2].append(None)  # keeps record order: None = take the next parsed array
        last = (layout[0], keep, key) if layout is not None and title else None
    return {k: Ensemble(k, m, _assemble(parsed, texts)) for k, (m, parsed, texts) in groups.items()}, failures


def _assemble(parsed: list, texts: list) -> np.ndarray:
    """(C, N, 3) in record order from fully parsed arrays and bulk-parsed coordinate texts."""
    out, it = [], iter(parsed)
    for entry in texts:
        if entry is None:
            out.append(next(it))
        else:
            atom_lines, keep = entry
            values = " ".join(l[:30] for l in atom_lines).split()
            if len(values) != 3 * len(atom_lines):  # |x| >= 1000 fills a 10-wide field: slice columns
                values = [v for l in atom_lines for v in (l[0:10], l[10:20], l[20:30])]
            out.append(np.array(values, dtype=np.float64).reshape(-1, 3)[keep])
    return np.stack(out)


def same_graph(a: Chem.Mol, b: Chem.Mol) -> bool:
    """Same atoms (elements, in order) and the same bonds between them."""
    bonds = lambda m: sorted((x.GetBeginAtomIdx(), x.GetEndAtomIdx()) for x in m.GetBonds())
    return a.GetNumAtoms() == b.GetNumAtoms() and all(
        x.GetAtomicNum() == y.GetAtomicNum() for x, y in zip(a.GetAtoms(), b.GetAtoms())) and bonds(a) == bonds(b)


def atom_map(template: Chem.Mol, other: Chem.Mol) -> list | None:
    """other's atom index for each of template's atoms (stereo-free graph match), or None."""
    if template.GetNumAtoms() != other.GetNumAtoms():
        return None
    match = other.GetSubstructMatch(template, useChirality=False)
    return list(match) if len(match) == template.GetNumAtoms() else None


def read_geom(root: str, name: str | None = None) -> tuple[dict[str, Ensemble], list[dict]]:
    """Reference ensembles of a GEOM rdkit_folder release (every usable conformer), keyed by the
    summary's molecule name where it has one, else by SMILES."""
    from conformers.data.geom import SkippedMolecule, load_molecule, read_summary

    if name is None:
        found = sorted(f[len("summary_"):-len(".json")] for f in os.listdir(root)
                       if f.startswith("summary_") and f.endswith(".json"))
        if len(found) != 1:
            raise EnsembleReadError(f"{root}: expected one summary_<name>.json, found {found or 'none'}; pass the name")
        name = found[0]
    out, failures = {}, []
    for smiles, entry in read_summary(root, name).items():
        try:
            geom = load_molecule(root, smiles, entry)
        except SkippedMolecule as exc:
            failures.append({"key": smiles, "reason": exc.reason, "detail": exc.detail})
            continue
        heavy, keep = _heavy(geom.mol)
        key = str(entry.get("name") or smiles)
        out[key] = Ensemble(key, heavy, np.stack([c.GetPositions()[keep] for c in geom.mol.GetConformers()]))
    return out, failures


def read_cache(path: str, split: str | None = "test") -> tuple[dict[str, Ensemble], list[dict]]:
    """Reference ensembles from a prepared cache (all conformers), optionally one split's molecules."""
    from conformers.data import MoleculeCache
    from conformers.data.split import split_members

    cache = MoleculeCache(path)
    indices = range(len(cache))
    split_file = os.path.join(path, "split.json")
    if split is not None and os.path.isfile(split_file):
        indices = [cache.index_of(s) for s in split_members(split_file, split)]
    out = {}
    for i in indices:
        mol = cache.rdkit_mol(i, with_conformers=False)
        heavy, keep = _heavy(mol)
        out[cache.names[i]] = Ensemble(cache.names[i], heavy, cache.molecule(i)["positions"][:, keep].astype(np.float64))
    return out, []


def read_generated_and_reference(generated: str, reference: str, split: str | None = "test", meanwhile=None):
    """Both inputs of an evaluation, each read in a worker process of its own (reading a large SDF
    is pure-Python parsing, ~35 us per record) while ``meanwhile()``, if given, runs here: the
    command line imports torch and the kernels then. ((generated, failures), (reference, failures))."""
    pool = fork_pool(2)
    if pool is None:
        if meanwhile:
            meanwhile()
        return read_ensembles(generated, split), read_ensembles(reference, split)
    with pool:
        pending = [pool.submit(read_ensembles, path, split) for path in (generated, reference)]
        if meanwhile:
            meanwhile()
        return pending[0].result(), pending[1].result()


def read_ensembles(path: str, split: str | None = "test") -> tuple[dict[str, Ensemble], list[dict]]:
    """Dispatch on what ``path`` is: an .sdf file, a GEOM rdkit_folder, or a prepared cache."""
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "meta.json")):
            return read_cache(path, split)
        return read_geom(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file or folder: {path}")
    if is_sdf(path):
        return read_sdf(path)
    raise EnsembleReadError(f"{path}: expected an .sdf file, a GEOM rdkit_folder or a prepared cache folder")
