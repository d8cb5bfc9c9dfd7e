"""bfloat16 autocast against float32 for one training step of each trainable model, at 1 and 2
threads, in the same run: what `train.precision: auto` should pick on this CPU (AVX512-BF16).

Each model is built from the model section of the config its shipped checkpoint was trained with
(configs/*.yaml below) and steps on the same 64 training conformers of the repository's QM9-sized
nci-xtb set, read with the model's own data spec (edges, selection). One step: forward under
autocast (or not), backward, gradient clipping, Adam. Medians of 5 rounds after a warm-up round
(which also builds ConfOpt's RDKit starts).

    .venv/bin/python -m pytest benchmarks/bench_precision.py -c benchmarks/pytest.ini

Run alone (`uptime` near 0): OpenMP threads spin-wait beside another busy process.
"""
import os

import pytest
import torch
import yaml

from .conftest import MEDIANS, ratio, training_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {"confopt": "configs/confopt_generation.yaml", "dmcg": "configs/dmcg_qm9.yaml",
           "confgf": "configs/confgf_qm9.yaml", "confvae": "configs/confvae_qm9.yaml"}
BATCH = 64
THREADS = (1, 2)


def model_and_batch(name):
    from conformers.data import Collater, ConformerDataset, MoleculeCache, Selection, load_split, nci_xtb
    from conformers.models import create_model
    from conformers.models.base import model_settings

    with open(os.path.join(ROOT, CONFIGS[name])) as handle:
        model_name, settings = model_settings(yaml.safe_load(handle)["model"])
    torch.manual_seed(0)
    model = create_model(model_name, **settings).train()
    spec = model.data_spec
    path = nci_xtb("qm9")[0]
    selection = Selection(spec.selection, k=spec.k, mass=spec.mass, ratio=spec.ratio)
    ds = ConformerDataset.from_split(MoleculeCache(path), load_split(os.path.join(path, "split.json")), "train",
                                     selection=selection, mode=spec.mode)
    batch = Collater(ds, spec.edges, spec.mols)([ds[k] for k in range(BATCH)])
    return model, torch.optim.Adam(model.parameters(), lr=1e-4), batch


def train_step(model, optimizer, batch, precision):
    training_step(model, optimizer, batch, precision, clip=10.0)


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def setup(request):
    return request.param, model_and_batch(request.param)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_training_step(record, setup, precision, threads):
    name, (model, optimizer, batch) = setup
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        train_step(model, optimizer, batch, precision)  # warm-up
        record(f"{name}_{precision}_t{threads}", train_step, model, optimizer, batch, precision, rounds=5)
    finally:
        torch.set_num_threads(previous)


def test_precision_table():
    print(f"\nOne training step, {BATCH} conformers (load: {os.getloadavg()[0]:.2f}); bfloat16 speed-up = "
          f"float32 time / bfloat16 time")
    for name in sorted(CONFIGS):
        for threads in THREADS:
            fp32, bf16 = f"{name}_float32_t{threads}", f"{name}_bfloat16_t{threads}"
            if fp32 in MEDIANS and bf16 in MEDIANS:
                print(f"  {name:8s} {threads} thread(s): float32 {MEDIANS[fp32] * 1e3:7.0f} ms, bfloat16 "
                      f"{MEDIANS[bf16] * 1e3:7.0f} ms: {ratio(fp32, bf16):.2f}x")
