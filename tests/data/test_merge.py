"""Merging prepared caches for joint training: shards linked, splits united by position, held-out
molecules of one source never in another's train split."""
import json
import os

import pytest

from conformers.data import ConformerDataset, MoleculeCache, Selection, leakage_key, load_split, nci_xtb
from conformers.data.merge import merge_caches


def test_merge_two_caches(tmp_path):
    qm9, drugs = nci_xtb("qm9")[0], nci_xtb("drugs")[0]
    out = str(tmp_path / "merged")
    report = merge_caches([qm9, drugs], out, repeat=[1, 3])
    a, b, merged = MoleculeCache(qm9), MoleculeCache(drugs), MoleculeCache(out)
    assert len(merged) == len(a) + len(b) == report["molecules"]
    split = load_split(os.path.join(out, "split.json"))
    assert split["key"] == "position"
    train_b = load_split(os.path.join(drugs, "split.json"))["train"]
    assert len(split["train"]) == report["split"]["train"] == len(load_split(os.path.join(qm9, "split.json"))["train"]) \
        - report["per_source"][0]["train_dropped_held_out_elsewhere"] + 3 * (len(train_b) - report["per_source"][1]["train_dropped_held_out_elsewhere"])
    # a position names the source's molecule with its own conformers
    k = split["test"][-1]
    assert merged.smiles[k] in load_split(os.path.join(drugs, "split.json"))["test"]
    assert (merged.molecule(k)["positions"] == b.molecule(b.index_of(merged.smiles[k]))["positions"]).all()
    held = {leakage_key(merged.smiles[i]) for i in split["val"] + split["test"]}
    assert not any(leakage_key(merged.smiles[i]) in held for i in split["train"])
    ds = ConformerDataset.from_split(merged, split, "train", selection=Selection("all"), mode="molecule")
    assert len(ds) == len(split["train"])
    with pytest.raises(FileExistsError):
        merge_caches([qm9, drugs], out)
    with pytest.raises(ValueError, match="cannot fill"):
        merge_caches([qm9, drugs], str(tmp_path / "m2"), use=[{"train": "nosuch"}, {}])


def test_held_out_caches_contribute_only_their_held_out_molecules(tmp_path):
    """--held-out: a cache whose val/test molecules leave the merged train split (its test molecules
    the val split) without adding any molecule: ensembles of QM9 molecules trained apart from QM9."""
    qm9, drugs = nci_xtb("qm9")[0], nci_xtb("drugs")[0]
    qm9_split, drugs_split = (load_split(os.path.join(p, "split.json")) for p in (qm9, drugs))
    # a held-out split that names two of qm9's train molecules, one as val and one as test
    fake = tmp_path / "holdout"
    fake.mkdir()
    val_mol, test_mol = qm9_split["train"][:2]
    (fake / "split.json").write_text(json.dumps({"train": [], "val": [val_mol], "test": [test_mol]}))
    report = merge_caches([qm9], str(tmp_path / "m"), held_out=[str(fake)])
    merged = MoleculeCache(str(tmp_path / "m"))
    split = load_split(str(tmp_path / "m" / "split.json"))
    assert len(merged) == len(MoleculeCache(qm9))  # no molecule added
    names = {merged.smiles[i] for i in split["train"]}
    assert val_mol not in names and test_mol not in names
    assert report["per_source"][0]["train_dropped_held_out_elsewhere"] == 2
    assert report["held_out"] == [str(fake)]
    with pytest.raises(ValueError, match="at least two caches"):
        merge_caches([qm9], str(tmp_path / "m3"))
    assert drugs_split["test"]  # the fixture's sources hold test molecules
