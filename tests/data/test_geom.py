"""GEOM loader, cache and batching round trip on a fake release in the rdkit_folder layout."""
import json
import os
import pickle

import numpy as np
import pytest
import torch
from rdkit import Chem

import conformer_kernels as ck
from conformer_kernels.testing import random_rotations
from conformers.cli.main import main
from conformers.data import (ConformerDataset, MoleculeCache, Selection, SkippedMolecule, collate, featurize, full_graph,
                             load_molecule, make_split, prepare, read_summary)
from conformers.data.batch import Collater

from . import fake_geom as fake


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("rdkit_folder"))
    fake.write_release(root)
    return root


@pytest.fixture(scope="module")
def cache_dir(release, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cache"))
    prepare(release, "drugs", out, workers=2, shard_size=3, progress=False)
    return out


def _load(release, smiles):
    return load_molecule(release, smiles, read_summary(release, "drugs")[smiles])


def test_loader_sorts_by_weight_and_keeps_atom_order(release):
    mol = _load(release, fake.NORMAL)
    assert mol.num_conformers == 3 and mol.weights.tolist() == pytest.approx([0.5, 0.3, 0.2])
    with open(os.path.join(release, read_summary(release, "drugs")[fake.NORMAL]["pickle_path"]), "rb") as h:
        raw = pickle.load(h)["conformers"]
    heavy = [a.GetIdx() for a in raw[1]["rd_mol"].GetAtoms() if a.GetAtomicNum() > 1]
    np.testing.assert_allclose(mol.positions()[0], raw[1]["rd_mol"].GetConformer().GetPositions()[heavy])


def test_quirks_are_handled_and_counted(release):
    assert _load(release, fake.MISMATCH).quirks["uniqueconfs_mismatch"] == 1
    no_weights = _load(release, fake.NO_WEIGHTS)
    assert no_weights.quirks["missing_boltzmann_weight"] == 2
    ratio = np.exp(-1.0 / (0.0019872043 * 298.15))  # 1 kcal/mol apart
    assert no_weights.weights.tolist() == pytest.approx([1 / (1 + ratio), ratio / (1 + ratio)])
    changed = _load(release, fake.GRAPH_CHANGED)
    assert changed.num_conformers == 1 and changed.quirks["graph_changed_conformer"] == 1
    reordered = _load(release, fake.REORDERED)
    assert reordered.quirks["reordered_conformer"] == 1
    X = torch.tensor(reordered.positions())
    heavy = Chem.RemoveHs(reordered.mol)
    # the renumbered conformer, mapped back, is still a sensible conformer of the same molecule
    assert float(ck.symmetric_rmsd(X[:1], X[1:], ck.automorphisms(heavy))) < 3.0
    for smiles, reason in ((fake.DISCONNECTED, "disconnected"), (fake.CORRUPT, "corrupt_file"),
                           (fake.MISSING, "missing_file")):
        with pytest.raises(SkippedMolecule) as info:
            _load(release, smiles)
        assert info.value.reason == reason


def test_selection_rules():
    w = np.array([0.5, 0.3, 0.15, 0.05])
    assert Selection("all").count(w) == 4
    assert Selection("top_k", k=2).count(w) == 2 and Selection("top_k", k=9).count(w) == 4
    assert Selection("cumulative", mass=0.95).count(w) == 3 and Selection("cumulative", mass=0.8).count(w) == 2
    assert Selection("relative", ratio=0.5).count(w) == 2 and Selection("relative", ratio=0.01).count(w) == 4
    with pytest.raises(ValueError, match="unknown selection rule"):
        Selection("best")


def test_prepare_report_and_round_trip(release, cache_dir):
    with open(os.path.join(cache_dir, "report.json")) as handle:
        report = json.load(handle)
    assert report["molecules_kept"] == 5 and report["conformers_kept"] == 3 + 2 + 2 + 1 + 2
    assert report["skipped_by_reason"] == {"disconnected": 1, "corrupt_file": 1, "missing_file": 1}
    assert {f["smiles"] for f in report["failures"]} == {fake.DISCONNECTED, fake.CORRUPT, fake.MISSING}
    assert "corrupt.pickle" in next(f["detail"] for f in report["failures"] if f["reason"] == "corrupt_file")
    assert report["quirks_handled"]["graph_changed_conformer"] == 1
    cache = MoleculeCache(cache_dir)
    for smiles in (fake.NORMAL, fake.REORDERED, fake.NO_WEIGHTS):
        i = cache.index_of(smiles)
        source = _load(release, smiles)
        item = cache.molecule(i)
        np.testing.assert_allclose(item["positions"], source.positions(), atol=1e-5)
        np.testing.assert_allclose(item["weights"], source.weights)
        graph = featurize(source.mol)
        for key, value in graph.arrays().items():
            np.testing.assert_array_equal(item[key], value, err_msg=key)
        mol = cache.rdkit_mol(i)
        assert Chem.MolToSmiles(mol) == Chem.MolToSmiles(Chem.RemoveHs(source.mol))
        assert mol.GetNumConformers() == source.num_conformers


def test_prepare_resumes_and_refuses_other_settings(release, cache_dir):
    shard = os.path.join(cache_dir, "shards", "00000", "positions.npy")
    before = os.stat(shard).st_mtime_ns
    report = prepare(release, "drugs", cache_dir, workers=1, shard_size=3, progress=False)
    assert report["throughput"]["resumed_shards"] == 3 and os.stat(shard).st_mtime_ns == before
    with pytest.raises(ValueError, match="other settings"):
        prepare(release, "drugs", cache_dir, hydrogens=True, shard_size=3, progress=False)


def test_collate_offsets_and_permutations(cache_dir):
    cache = MoleculeCache(cache_dir)
    ds = ConformerDataset(cache, selection=Selection("top_k", k=2))
    assert len(ds) == 2 + 2 + 2 + 1 + 2
    items = [ds[k] for k in range(len(ds))]
    batch = collate(items, cache=cache)
    ptr = batch.ptr.tolist()
    assert ptr[-1] == batch.atomic_numbers.numel() == batch.pos.shape[0]
    for name in ("bond_index", "extended_index", "full_index"):
        index = getattr(batch, name)
        owner = batch.batch[index[0]]
        assert (owner == batch.batch[index[1]]).all(), name  # no edge crosses molecules
    sizes = torch.diff(batch.ptr)
    assert batch.full_index.shape[1] == int((sizes * (sizes - 1)).sum())
    # the batched full graph equals the per-molecule one of conformers.data.full_graph
    start = 0
    for b, it in enumerate(items):
        index, bond_type, path, same = full_graph(it["path_length"], it["bond_index"], it["bond_features"],
                                                  it["conjugated_system"])
        stop = start + index.shape[1]
        assert (batch.full_index[:, start:stop].numpy() == index + ptr[b]).all()
        assert (batch.full_bond_type[start:stop].numpy() == bond_type).all()
        assert (batch.full_path_length[start:stop].numpy() == path).all()
        assert (batch.full_same_conjugated[start:stop].numpy() == same).all()
        start = stop
    # the flat permutation tables plug into conformer_kernels: loss of a rotated, permuted copy is 0
    q = random_rotations(batch.num_graphs, dtype=torch.float64)
    pos = batch.pos.double()
    rotated = torch.einsum("aij,aj->ai", q[batch.batch], pos) + 1.0
    gather = []  # apply each molecule's last symmetric permutation too
    for b in range(batch.num_graphs):
        n = int(sizes[b])
        table = batch.permutations[batch.perm_ptr[b]:batch.perm_ptr[b + 1]].reshape(-1, n)
        gather.append(table[-1] + batch.ptr[b])
    rotated = rotated[torch.cat(gather)]
    loss = ck.rtp_loss(rotated, pos, batch.permutations, batch.ptr, batch.perm_ptr)
    assert float(loss.max()) < 1e-8
    molecules = ConformerDataset(cache, mode="molecule", selection=Selection("all"))
    batch = collate([molecules[k] for k in range(len(molecules))])
    sizes = torch.diff(batch.ptr)
    assert batch.ref_ptr[-1] == 10 and batch.ref_pos.shape[0] == int((torch.diff(batch.ref_ptr) * sizes).sum())


def test_dataloader_with_workers(cache_dir):
    ds = ConformerDataset(cache_dir)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=Collater(ds, edges=("bond",)))
    seen = sum(b.num_graphs for b in loader)
    assert seen == len(ds)


def test_split_is_seeded_grouped_and_leak_free():
    smiles = ["C[C@H](N)O", "C[C@@H](N)O", "CC(N)O", "OC(C)N", "CCO", "CCC", "CCCC", "CCN", "c1ccccc1", "CCCl"]
    counts = [3, 3, 3, 3, 1, 5, 5, 5, 5, 5]
    a = make_split(smiles, counts, n_train=None, n_val=2, n_test=2, seed=3, min_train_conformers=2)
    assert a == make_split(smiles, counts, n_train=None, n_val=2, n_test=2, seed=3, min_train_conformers=2)
    where = {s: name for name in ("train", "val", "test") for s in a[name]}
    assert len({where[s] for s in smiles[:4] if s in where}) == 1  # stereoisomers/spellings stay together
    assert "CCO" not in a["train"] and "CCO" not in a["val"]  # below min_train_conformers
    from conformers.data import check_leakage
    with pytest.raises(ValueError, match="leakage"):
        check_leakage({"train": ["C[C@H](N)O"], "val": [], "test": ["C[C@@H](N)O"]})


def test_cli_prepare_and_split(release, tmp_path, capsys):
    out = str(tmp_path / "cache")
    assert main(["data", "prepare", "--geom", release, "--name", "drugs", "--out", out, "--workers", "1",
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "corrupt_file" in err and "missing.pickle" in err
    split_path = str(tmp_path / "split.json")
    assert main(["data", "split", "--cache", out, "--out", split_path, "--train", "all", "--val", "1",
                 "--test", "1", "--min-train-conformers", "1"]) == 0
    with open(split_path) as handle:
        split = json.load(handle)
    assert sorted(split["train"] + split["val"] + split["test"]) == sorted(MoleculeCache(out).smiles)
    assert main(["data", "prepare", "--geom", str(tmp_path / "nowhere"), "--name", "drugs", "--out", out]) == 2
    assert "no GEOM summary" in capsys.readouterr().err
