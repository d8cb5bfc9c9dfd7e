"""Data pipeline throughput: preprocessing molecules/s (real nci-xtb release and a GEOM-Drugs-shaped
synthetic one, 100 conformers per molecule), and batches/s the DataLoader delivers with workers.

Peer: the loader must outrun training, so its time per batch is compared, in the same run, with the
smallest network of the four methods on the same batch: ConfGF's 4-layer GIN (hidden 256) over the
extended graph, forward + backward + l_RTP (a stand-in until the models land; they are all larger).
"""
import copy
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch

import conformer_kernels as ck
from conformers.data import Collater, ConformerDataset, MoleculeCache, Selection, nci_xtb, prepare

from .conftest import MEDIANS

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "nci-xtb")
BATCH = 32


@pytest.fixture(scope="module")
def drugs_like_release(tmp_path_factory):
    """nci-xtb's drug-like molecules with every conformer list expanded to 100 (jittered copies),
    the shape of GEOM-Drugs (~100 conformers per molecule)."""
    if not os.path.isdir(SHARED):
        pytest.skip("needs ../shared/data/nci-xtb")
    root = str(tmp_path_factory.mktemp("geom_drugs_like"))
    os.makedirs(os.path.join(root, "drugs"))
    with open(os.path.join(SHARED, "summary_drugs.json")) as handle:
        summary = json.load(handle)
    rng = np.random.default_rng(0)
    for smiles, entry in list(summary.items())[:100]:
        with open(os.path.join(SHARED, entry["pickle_path"]), "rb") as handle:
            data = pickle.load(handle)
        confs = []
        for k in range(100):
            conf = copy.copy(data["conformers"][k % len(data["conformers"])])
            mol = copy.deepcopy(conf["rd_mol"])
            pos = mol.GetConformer().GetPositions() + rng.normal(0, 0.05, (mol.GetNumAtoms(), 3))
            mol.GetConformer().SetPositions(pos)
            conf["rd_mol"], conf["boltzmannweight"] = mol, 0.01
            confs.append(conf)
        data["conformers"], data["uniqueconfs"] = confs, 100
        with open(os.path.join(root, entry["pickle_path"]), "wb") as handle:
            pickle.dump(data, handle)
    with open(os.path.join(root, "summary_drugs.json"), "w") as handle:
        json.dump(dict(list(summary.items())[:100]), handle)
    return root


@pytest.mark.parametrize("subset", ["qm9", "drugs"])
def test_prepare_nci_xtb(record, tmp_path, subset):
    if not os.path.isdir(SHARED):
        pytest.skip("needs ../shared/data/nci-xtb")
    out = str(tmp_path / "cache")

    def run():
        shutil.rmtree(out, ignore_errors=True)
        return prepare(SHARED, subset, out, workers=2, progress=False)

    report = record(f"prepare_{subset}", run, rounds=3)
    MEDIANS[f"molecules_{subset}"] = report["molecules_kept"]


def test_prepare_geom_drugs_shaped(record, tmp_path, drugs_like_release):
    out = str(tmp_path / "cache")

    def run():
        shutil.rmtree(out, ignore_errors=True)
        return prepare(drugs_like_release, "drugs", out, workers=2, shard_size=16, progress=False)

    report = record("prepare_drugs_100confs", run, rounds=3)
    assert report["conformers_kept"] == 100 * 100


@pytest.fixture(scope="module")
def drugs_dataset():
    cache, split = nci_xtb("drugs")
    return ConformerDataset(MoleculeCache(cache), selection=Selection("top_k", k=5))


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_batches(record, drugs_dataset, workers):
    loader = torch.utils.data.DataLoader(drugs_dataset, batch_size=BATCH, shuffle=True, num_workers=workers,
                                         collate_fn=Collater(drugs_dataset), persistent_workers=workers > 0)
    next(iter(loader))  # start the workers outside the timing

    def epoch():
        return sum(1 for _ in loader)

    MEDIANS["batches_per_epoch"] = record(f"loader_{workers}", epoch, rounds=3)


class _GIN(torch.nn.Module):
    def __init__(self, hidden=256, layers=4):
        super().__init__()
        self.atom = torch.nn.Embedding(128, hidden)
        self.edge = torch.nn.Embedding(8, hidden)
        self.mlps = torch.nn.ModuleList(torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                                                            torch.nn.Linear(hidden, hidden)) for _ in range(layers))
        self.out = torch.nn.Linear(hidden, 3)

    def forward(self, batch):
        h = self.atom(batch.atomic_numbers)
        src, dst = batch.extended_index
        e = self.edge(batch.extended_type)
        for mlp in self.mlps:
            h = h + mlp(h.index_add(0, dst, torch.relu(h[src] + e)))
        return self.out(h)


def test_training_step_peer(record, drugs_dataset):
    torch.manual_seed(0)
    batch = Collater(drugs_dataset)([drugs_dataset[k] for k in range(BATCH)])
    model = _GIN()

    def step():
        model.zero_grad()
        pred = batch.pos + model(batch)
        ck.rtp_loss(pred, batch.pos, batch.permutations, batch.ptr, batch.perm_ptr, reduction="mean").backward()

    record("training_step", step)


def test_targets():
    for subset in ("qm9", "drugs"):
        if f"prepare_{subset}" in MEDIANS:
            rate = MEDIANS[f"molecules_{subset}"] / MEDIANS[f"prepare_{subset}"]
            print(f"\nprepare nci-xtb {subset}: {rate:.0f} molecules/s (2 workers)")
    if "prepare_drugs_100confs" in MEDIANS:
        print(f"prepare GEOM-Drugs-shaped (100 conformers/molecule): "
              f"{100 / MEDIANS['prepare_drugs_100confs']:.1f} molecules/s, "
              f"{10000 / MEDIANS['prepare_drugs_100confs']:.0f} conformers/s")
    per_batch = {w: MEDIANS[f"loader_{w}"] / MEDIANS["batches_per_epoch"] for w in (0, 2) if f"loader_{w}" in MEDIANS}
    for w, seconds in per_batch.items():
        print(f"loader, {w} workers: {1 / seconds:.0f} batches/s of {BATCH} drug-like conformers")
    if "training_step" not in MEDIANS or not per_batch:
        pytest.skip("needs the loader and the training step in the same run")
    share = min(per_batch.values()) / MEDIANS["training_step"]
    print(f"training step (GIN 4x256 + l_RTP): {MEDIANS['training_step'] * 1e3:.1f} ms; "
          f"loader time per batch = {share:.1%} of it")
    # The loader must never be the bottleneck: a batch must cost under 10% of the smallest step.
    assert share < 0.10, per_batch
