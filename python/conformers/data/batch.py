"""Datasets over a prepared cache and ragged batching: concatenated atoms, CSR offsets, no padding."""
from __future__ import annotations

import numpy as np
import torch

from .cache import MoleculeCache
from .geom import Selection

EDGE_SETS = ("bond", "extended", "full")


class Batch:
    """A ragged batch of B molecules with A atoms in total; attribute access to its tensors.

    Always: ptr (B+1,), batch (A,) molecule of each atom, atomic_numbers (A,), atom_features (A, F),
    permutations (flat, molecule-local atom indices) with perm_ptr (B+1,) as conformer_kernels'
    symmetric_rmsd/rtp_loss take them, index (B,) dataset molecule index; from a cache also
    smiles, names and, when asked for, mols (RDKit molecules in the batch's atom order, without
    conformers).
    Edge sets (global atom indices, both directions): bond_index (2, Eb) + bond_features, rotatable;
    extended_index (2, Ee) + extended_type; full_index (2, Ef) + full_bond_type, full_path_length,
    full_same_conjugated, full_rotatable (the pair is a rotatable bond). Conformers: pos (A, 3) in conformer mode; ref_pos (sum C_b N_b, 3) with
    ref_ptr (B+1,) conformer offsets and ref_weights in molecule mode; from a cache prepared with
    RDKit+MMFF starts, starts (sum S_b N_b, 3) with start_ptr (B+1,) row offsets (molecule b's S_b starts of N_b atoms).
    """

    def __init__(self, **tensors):
        self.__dict__.update(tensors)

    @property
    def num_graphs(self) -> int:
        return int(self.ptr.numel() - 1)

    def keys(self):
        return list(self.__dict__)

    def to(self, device, non_blocking: bool = False) -> "Batch":
        return Batch(**{k: v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v
                        for k, v in self.__dict__.items()})

    def pin_memory(self) -> "Batch":
        return Batch(**{k: v.pin_memory() if torch.is_tensor(v) else v for k, v in self.__dict__.items()})


class ConformerDataset(torch.utils.data.Dataset):
    """Items from a prepared cache, restricted to some molecules and a conformer selection rule.

    mode="conformer": one item per (molecule, selected conformer), as ConfGF/DMCG/ConfVAE train.
    mode="molecule": one item per molecule with all its selected conformers (references; ConfOpt).
    """

    def __init__(self, cache: MoleculeCache | str, molecules=None, selection: Selection = Selection("all"),
                 mode: str = "conformer"):
        if mode not in ("conformer", "molecule"):
            raise ValueError(f"mode must be 'conformer' or 'molecule', got {mode!r}")
        self.cache = MoleculeCache(cache) if isinstance(cache, str) else cache
        self.mode, self.selection = mode, selection
        if molecules is None:
            self.molecules = np.arange(len(self.cache))
        else:
            self.molecules = np.asarray([self.cache.index_of(m) if isinstance(m, str) else int(m) for m in molecules],
                                        dtype=np.int64)
        counts = self.cache.num_conformers()[self.molecules] if len(self.molecules) else np.zeros(0, np.int64)
        self.num_selected = np.asarray([self._count(m, c) for m, c in zip(self.molecules, counts)], dtype=np.int64)
        if mode == "conformer":
            self._items = np.stack([np.repeat(self.molecules, self.num_selected),
                                    np.concatenate([np.arange(c) for c in self.num_selected])
                                    if len(self.num_selected) else np.zeros(0, np.int64)], 1)
        else:
            self._items = np.stack([self.molecules, np.full(len(self.molecules), -1)], 1)

    def _count(self, molecule, n):
        if self.selection.rule in ("all", "top_k"):  # no need to read the weights
            return self.selection.count(np.ones(n))
        return self.selection.count(self.cache.molecule(int(molecule))["weights"])

    @classmethod
    def from_split(cls, cache, split: dict, name: str, **kwargs) -> "ConformerDataset":
        cache = MoleculeCache(cache) if isinstance(cache, str) else cache
        # entries are SMILES, or positions in the cache (a merged cache's split: one SMILES may name
        # a molecule in two of its sources)
        missing = [s for s in split[name] if not isinstance(s, int) and s not in cache._index]
        if missing:
            raise ValueError(f"{len(missing)} molecules of split '{name}' are not in the cache, e.g. {missing[0]!r}")
        return cls(cache, split[name], **kwargs)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, k: int) -> dict:
        molecule, conformer = (int(v) for v in self._items[k])
        item = self.cache.molecule(molecule)
        item["index"] = molecule
        if conformer >= 0:
            item["pos"] = item["positions"][conformer]
        else:
            count = self.selection.count(item["weights"])
            item["ref_pos"], item["ref_weights"] = item["positions"][:count], item["weights"][:count]
        return item


def _offsets(sizes) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def collate(items: list[dict], edges=EDGE_SETS, cache: MoleculeCache | None = None, mols: bool = False) -> Batch:
    """Concatenate molecule items into one ragged Batch, offsetting edge indices per molecule.
    With ``mols`` (and a cache) also the RDKit molecules: parsing them more than doubles the time
    of a collate, so only models that need them (ConfOpt's RDKit starts) ask."""
    if not items:
        raise ValueError("cannot collate an empty list of molecules")
    unknown = set(edges) - set(EDGE_SETS)
    if unknown:
        raise ValueError(f"unknown edge sets {sorted(unknown)}; expected some of {EDGE_SETS}")
    sizes = [len(it["atomic_numbers"]) for it in items]
    ptr = _offsets(sizes)
    out = {  # numpy until the end: _pack turns them into tensors sharing one storage per dtype
        "ptr": ptr, "batch": np.repeat(np.arange(len(items)), sizes),
        "atomic_numbers": np.concatenate([it["atomic_numbers"] for it in items]).astype(np.int64),
        "atom_features": np.concatenate([it["atom_features"] for it in items]).astype(np.int64),
        "permutations": np.concatenate([it["permutations"].reshape(-1) for it in items]).astype(np.int64),
        "perm_ptr": _offsets([it["permutations"].size for it in items]),
        "index": np.asarray([it["index"] for it in items], dtype=np.int64),
    }
    if "bond" in edges:
        out["bond_index"] = _shifted([it["bond_index"] for it in items], ptr)
        out["bond_features"] = np.concatenate([it["bond_features"] for it in items]).astype(np.int64)
        out["rotatable"] = np.concatenate([it["rotatable"] for it in items]).astype(bool)
    if "extended" in edges:
        out["extended_index"] = _shifted([it["extended_index"] for it in items], ptr)
        out["extended_type"] = np.concatenate([it["extended_type"] for it in items]).astype(np.int64)
    if "full" in edges:
        out.update(_full_graph_batch(items, ptr, sizes))
    if "pos" in items[0]:
        out["pos"] = np.concatenate([it["pos"] for it in items]).astype(np.float32)
    if "ref_pos" in items[0]:
        out["ref_pos"] = np.concatenate([it["ref_pos"].reshape(-1, 3) for it in items]).astype(np.float32)
        out["ref_ptr"] = _offsets([len(it["ref_pos"]) for it in items])
        out["ref_weights"] = np.concatenate([it["ref_weights"] for it in items]).astype(np.float32)
    if any("starts" in it for it in items):  # stored RDKit+MMFF starts, S_b per molecule (0: none stored)
        starts = [it["starts"].reshape(-1, 3) if "starts" in it else np.zeros((0, 3), np.float32) for it in items]
        out["starts"] = np.concatenate(starts).astype(np.float32)
        out["start_ptr"] = _offsets([len(s) for s in starts])
    out = _pack(out)
    if cache is not None:
        out["smiles"] = [cache.smiles[it["index"]] for it in items]
        out["names"] = [cache.names[it["index"]] for it in items]
        if mols:
            out["mols"] = [cache.rdkit_mol(it["index"], with_conformers=False) for it in items]  # graph + stereo
    return Batch(**out)


def _pack(arrays: dict) -> dict:
    """numpy arrays -> tensors that are views into one storage per dtype. A DataLoader worker
    moves each storage through shared memory separately, at ~0.3 ms apiece: 3 instead of ~20
    storages per batch make a worker deliver ~9x more batches per second."""
    by_dtype = {}
    for key, value in arrays.items():
        by_dtype.setdefault(np.dtype(value.dtype), []).append(key)
    out = {}
    for dtype, keys in by_dtype.items():
        flat = np.concatenate([arrays[k].reshape(-1) for k in keys]) if keys else np.zeros(0, dtype)
        storage, start = torch.from_numpy(flat), 0
        for k in keys:
            size = arrays[k].size
            out[k] = storage[start:start + size].view(arrays[k].shape)
            start += size
    return out


def _full_graph_batch(items, ptr, sizes) -> dict:
    """features.full_graph for every molecule at once, vectorised over the batch."""
    n = np.asarray(sizes, dtype=np.int64)
    pair_ptr = _offsets(n * n)
    owner = np.repeat(np.arange(len(items)), n * n)
    local = np.arange(pair_ptr[-1]) - pair_ptr[owner]
    i, j = local // n[owner], local % n[owner]
    keep = i != j
    bond_type = np.zeros(pair_ptr[-1], dtype=np.int64)
    rotatable = np.zeros(pair_ptr[-1], dtype=bool)
    for b, it in enumerate(items):  # bonds are few: one scatter per molecule
        src, dst = it["bond_index"]
        bond_type[pair_ptr[b] + src * n[b] + dst] = np.maximum(it["bond_features"][:, 0], 1)
        rotatable[pair_ptr[b] + src * n[b] + dst] = it["rotatable"]
    path = np.concatenate([it["path_length"].reshape(-1) for it in items]).astype(np.int64)
    conj = np.concatenate([it["conjugated_system"] for it in items]).astype(np.int64)
    gi, gj = (i + ptr[owner])[keep], (j + ptr[owner])[keep]
    return {"full_index": np.stack([gi, gj]), "full_bond_type": bond_type[keep], "full_path_length": path[keep],
            "full_same_conjugated": (conj[gi] == conj[gj]) & (conj[gi] >= 0), "full_rotatable": rotatable[keep]}


def _shifted(indices, ptr) -> np.ndarray:
    """Concatenate (2, E_b) molecule-local edge indices into global ones."""
    parts = [np.asarray(e, dtype=np.int64) + ptr[b] for b, e in enumerate(indices)]
    return np.concatenate(parts, axis=1) if parts else np.zeros((2, 0), dtype=np.int64)


class Collater:
    """Picklable collate_fn for DataLoader workers: ``DataLoader(ds, collate_fn=Collater(ds))``."""

    def __init__(self, dataset: ConformerDataset, edges=EDGE_SETS, mols: bool = False):
        self.cache, self.edges, self.mols = dataset.cache, tuple(edges), mols

    def __call__(self, items):
        return collate(items, self.edges, self.cache, self.mols)
