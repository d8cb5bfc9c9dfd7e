"""The repository's processed training set: complete, split by molecule, no leakage."""
import json

import numpy as np
import pytest

from conformers.data import ConformerDataset, MoleculeCache, Selection, check_leakage, load_split, nci_xtb

# Counts from ../shared/data/nci-xtb/README.md ("511 QM9-sized molecules with 2,555 conformers and
# 343 drug-like molecules with 1,505 conformers").
EXPECTED = {"qm9": (511, 2555), "drugs": (343, 1505)}


@pytest.mark.parametrize("subset", ["qm9", "drugs"])
def test_cache_and_split(subset):
    cache_dir, split_path = nci_xtb(subset)
    cache = MoleculeCache(cache_dir)
    counts = cache.num_conformers()
    assert (len(cache), int(counts.sum())) == EXPECTED[subset]
    with open(f"{cache_dir}/report.json") as handle:
        assert json.load(handle)["molecules_skipped"] == 0
    split = load_split(split_path)
    check_leakage(split)
    names = split["train"] + split["val"] + split["test"]
    assert len(set(names)) == len(names) == len(cache)
    assert min(counts[cache.index_of(s)] for s in split["test"]) >= 2
    heavy = [len(cache.molecule(cache.index_of(s))["atomic_numbers"]) for s in split["test"]]
    assert (4 <= min(heavy) and max(heavy) <= 9) if subset == "qm9" else (15 <= min(heavy) and max(heavy) <= 26)
    train = ConformerDataset.from_split(cache, split, "train", selection=Selection("top_k", k=5))
    item = train[0]
    assert np.isfinite(item["pos"]).all() and item["pos"].shape == (len(item["atomic_numbers"]), 3)
