"""DMCG on this CPU: the share of a training step spent finding the optimal permutation and rigid
motion of l_RTP (the paper's Table 2 reports 28.6% for its implementation; target < 10%), with
conformer_kernels against the same loss on the pure-PyTorch reference ops (SVD Kabsch, permutations
tried one by one), in the same run; and sampling time per molecule for 2x-reference samples of
drug-like molecules (target well under 1 s), next to RDKit ETKDG for the same count.

Workload: 32 conformers of the repository's drug-like molecules (nci-xtb drugs) per step; the
paper's model size (dim 256, MLP hidden 1024, 6 blocks per stack) and the 2-core config's."""
import time

import pytest
import torch
from rdkit.Chem import AllChem

import conformer_kernels as ck
from conformers.data import Collater, ConformerDataset, MoleculeCache, load_split, nci_xtb
from conformers.models import create_model

from .conftest import MEDIANS

SIZES = {"paper": dict(dim=256, mlp_hidden=1024, layers=6), "cpu_config": dict(dim=128, mlp_hidden=512, layers=6)}


@pytest.fixture(scope="module")
def data():
    cache_dir, split_file = nci_xtb("drugs")
    cache = MoleculeCache(cache_dir)
    split = load_split(split_file)
    train = ConformerDataset.from_split(cache, split, "train")
    batch = Collater(train, ("bond",))([train[k] for k in range(0, 32 * 7, 7)])
    test = ConformerDataset.from_split(cache, split, "test", mode="molecule")
    mols, counts = [], []
    for k in range(len(test)):
        item = test[k]
        mols.append(cache.rdkit_mol(item["index"], with_conformers=False))
        counts.append(2 * item["ref_pos"].shape[0])
    return batch, mols, counts


def training_step_share(model, batch, reference: bool, steps: int = 4):
    """(seconds per step, share of the step spent in rtp_loss) over a few steps after a warm-up."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    total, aligned = 0.0, 0.0
    for step in range(steps + 1):
        model.alignment_seconds = 0.0
        start = time.perf_counter()
        with ck.use_reference(reference):
            loss = model(batch)["loss"]
            optimizer.zero_grad()
            loss.backward()
        optimizer.step()
        if step:  # the first step warms up
            total += time.perf_counter() - start
            aligned += model.alignment_seconds
    return total / steps, aligned / total


@pytest.mark.parametrize("size", sorted(SIZES))
def test_alignment_share_of_training(data, size):
    batch = data[0]
    torch.manual_seed(0)
    model = create_model("dmcg", **SIZES[size])
    model.train()
    step_ours, share_ours = training_step_share(model, batch, reference=False)
    step_ref, share_ref = training_step_share(model, batch, reference=True)
    MEDIANS[f"dmcg_share_{size}"] = share_ours
    print(f"\n{size}: step {step_ours * 1e3:.0f} ms, rtp_loss {share_ours:.1%} of it (conformer_kernels); "
          f"with the reference ops {step_ref * 1e3:.0f} ms, {share_ref:.1%}")
    assert share_ours < 0.10  # target (issue 6): under 10% (the paper: 28.6%)


@pytest.mark.parametrize("size", sorted(SIZES))
def test_sampling_time_per_molecule(data, size):
    _, mols, counts = data
    torch.manual_seed(0)
    model = create_model("dmcg", **SIZES[size])
    model.sample(mols[:2], 2, seed=0)  # warm-up
    start = time.perf_counter()
    out = model.sample(mols, counts, seed=0)
    ours = (time.perf_counter() - start) / len(mols)
    assert [m.GetNumConformers() for m in out] == counts
    params = AllChem.ETKDGv3()
    params.randomSeed = 0
    start = time.perf_counter()
    for mol, count in zip(mols, counts):
        AllChem.EmbedMultipleConfs(AllChem.AddHs(mol), count, params)
    rdkit = (time.perf_counter() - start) / len(mols)
    MEDIANS[f"dmcg_sample_{size}"] = ours
    print(f"\n{size}: {len(mols)} drug-like test molecules, {sum(counts)} conformers (2x references): "
          f"DMCG {ours * 1e3:.0f} ms per molecule, RDKit ETKDG {rdkit * 1e3:.0f} ms")
    assert ours < 0.5  # target: well under one second per molecule
