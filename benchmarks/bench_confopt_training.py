"""ConfOpt TwoAtom training throughput on QM9 batches (molecules per second): one optimizer step
(forward through the 9 unrolled layers, the distance-matrix loss, backward, Adam) of the shipped
QM9 config's model (hidden 128, 8 heads, batch 128), float32 against bfloat16 autocast and our
fused layers against the same layers in plain PyTorch, all four in the same run.

Batches: the QM9 cache (data/qm9/cache, `conformers data prepare --qm9`) when it is prepared,
else the repository's QM9-sized nci-xtb molecules; the starts are each molecule's stored
RDKit+MMFF starts or, for nci-xtb, RDKit+MMFF pools made in the warm-up round.
"""
import os

import pytest
import torch

from .conftest import MEDIANS, ratio, training_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QM9_CACHE = os.path.join(ROOT, "data", "qm9", "cache")
BATCH = 128


@pytest.fixture(scope="module")
def batch():
    from conformers.data import Collater, ConformerDataset, MoleculeCache, Selection, load_split, nci_xtb

    path, name = nci_xtb("qm9")[0], "train"
    if os.path.isfile(os.path.join(QM9_CACHE, "split.json")) and \
            load_split(os.path.join(QM9_CACHE, "split.json")).get("train_with_starts"):
        path, name = QM9_CACHE, "train_with_starts"  # a cache prepared with starts for its train split
    cache = MoleculeCache(path)
    split = load_split(os.path.join(path, "split.json"))
    ds = ConformerDataset.from_split(cache, split, name, selection=Selection("relative", ratio=0.5), mode="molecule")
    print(f"\nConfOpt training batches from {path} ({name}): {BATCH} molecules")
    return Collater(ds, ("full",), mols=True)([ds[k] for k in range(BATCH)])


def make_model(fused):
    from conformers.models import create_model

    torch.manual_seed(0)
    model = create_model("confopt", hidden=128, heads=8, fused=fused)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.95, 0.999))


def train_step(model, optimizer, batch, precision):
    training_step(model, optimizer, batch, precision, clip=8.0)  # the same starts in every round


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("fused", [True, False], ids=["ours", "plain"])
def test_training_step(record, batch, fused, precision):
    model, optimizer = make_model(fused)
    train_step(model, optimizer, batch, precision)  # warm-up (and the nci-xtb fallback's RDKit pools)
    record(f"step_{'ours' if fused else 'plain'}_{precision}", train_step, model, optimizer, batch, precision,
           rounds=5)


def test_throughput_table():
    keys = [f"step_{v}_{p}" for v in ("ours", "plain") for p in ("float32", "bfloat16")]
    if not all(k in MEDIANS for k in keys):
        pytest.skip("needs all four variants timed in the same run")
    print(f"\nConfOpt TwoAtom training, batch {BATCH} (load: {os.getloadavg()[0]:.2f}):")
    for k in keys:
        print(f"  {k:24s} {MEDIANS[k] * 1e3:8.1f} ms/step  {BATCH / MEDIANS[k]:7.1f} molecules/s")
    print(f"  bfloat16 vs float32 (ours): {ratio('step_ours_float32', 'step_ours_bfloat16'):.2f}x; "
          f"ours vs plain (float32): {ratio('step_plain_float32', 'step_ours_float32'):.2f}x; "
          f"ours bfloat16 vs plain float32: {ratio('step_plain_float32', 'step_ours_bfloat16'):.2f}x")
