"""Sampling speed of the shipped generators at their shipped settings against RDKit ETKDG, in the
same run (issue 17): seconds per molecule for 2x-reference samples of every held-out molecule of
both nci-xtb test splits, all molecules in one `sample` call, as `conformers evaluate --model M`
draws them. ConfGF also at fewer Langevin steps per level (its speed side of the accuracy-speed
trade-off; the accuracy side is in the README's tables). A registered model without shipped weights
is skipped. Target: DMCG and ConfOpt generation under 1 s per drug-like molecule.

Run alone (OpenMP threads spin-wait beside another busy process):
    .venv/bin/python -m pytest benchmarks/bench_sampling.py -s
"""
import time

import pytest

from conformers.data import ConformerDataset, MoleculeCache, load_split, nci_xtb
from conformers.models import load_model

from .conftest import MEDIANS

CASES = [("rdkit", {}), ("rdkit-mmff", {}), ("confopt", {}), ("confopt-generation", {}), ("dmcg", {}),
         ("confgf", {}), ("confgf", {"steps_per_level": 10}), ("confvae", {})]
UNDER_ONE_SECOND = ("dmcg", "confopt-generation")


@pytest.fixture(scope="module", params=["qm9", "drugs"])
def held_out(request):
    """(split name, molecules without conformers, 2x their reference count)."""
    cache_dir, split_file = nci_xtb(request.param)
    cache = MoleculeCache(cache_dir)
    test = ConformerDataset.from_split(cache, load_split(split_file), "test", mode="molecule")
    mols, counts = [], []
    for k in range(len(test)):
        item = test[k]
        mols.append(cache.rdkit_mol(item["index"], with_conformers=False))
        counts.append(2 * item["ref_pos"].shape[0])
    return request.param, mols, counts


def case_name(name: str, settings: dict) -> str:
    return name + "".join(f" {k}={v}" for k, v in settings.items())


@pytest.mark.parametrize("name, settings", CASES, ids=[case_name(*c) for c in CASES])
def test_seconds_per_molecule(held_out, name, settings):
    split, mols, counts = held_out
    try:
        model = load_model(name, **settings)
    except ValueError as exc:  # no shipped weights yet
        pytest.skip(str(exc))
    model.sample(mols[:1], 1, seed=1)  # warm-up: first-call allocations, kernel dispatch
    start = time.perf_counter()
    out = model.sample(mols, counts, seed=0)
    seconds = (time.perf_counter() - start) / len(mols)
    failed = sum(isinstance(m, Exception) for m in out)
    MEDIANS[f"sampling {split} {case_name(name, settings)}"] = seconds
    print(f"\n{split}: {case_name(name, settings)} {seconds:.3f} s per molecule ({sum(counts)} conformers of "
          f"{len(mols)} molecules, {failed} failed)")
    assert failed <= len(mols) // 10


def test_targets():
    """DMCG and ConfOpt generation under 1 s per drug-like molecule; every case against ETKDG."""
    etkdg = MEDIANS.get("sampling drugs rdkit")
    for key, seconds in sorted(MEDIANS.items()):
        if key.startswith("sampling ") and etkdg:
            print(f"{key}: {seconds:.3f} s per molecule, {seconds / etkdg:.1f}x ETKDG")
    for name in UNDER_ONE_SECOND:
        key = f"sampling drugs {name}"
        if key in MEDIANS:
            assert MEDIANS[key] < 1.0, f"{name}: {MEDIANS[key]:.2f} s per drug-like molecule"
