"""Every model on CUDA beside the CPU (skipped without a GPU and a CUDA build): forward, backward
and sampling run on the GPU with finite results and gradients on the GPU; the deterministic paths
(ConfOpt's unrolled optimizer, DMCG's decoder from CPU-drawn noise) agree with the CPU within
float32 tolerance; a run trained on CUDA resumes on the CPU; two ranks train over NCCL where two
GPUs exist. benchmarks/gpu_check.sh runs this file on a GPU machine."""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from rdkit import Chem

from conformers.data import nci_xtb

from .small import SMALL, batch_for, small

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cuda_ready() -> bool:
    from conformer_kernels import cuda_compiled

    return torch.cuda.is_available() and cuda_compiled()


pytestmark = pytest.mark.skipif(not _cuda_ready(), reason="needs a CUDA device and a CUDA build")

CUDA = torch.device("cuda")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_forward_backward_on_cuda(name):
    model = small(name).to(CUDA)
    out = model(batch_for(model).to(CUDA))
    assert out["loss"].device.type == CUDA.type and torch.isfinite(out["loss"])
    out["loss"].backward()
    for key, p in model.named_parameters():
        assert p.grad is None or (p.grad.device.type == CUDA.type and torch.isfinite(p.grad).all()), key


@pytest.mark.parametrize("name", sorted(SMALL))
def test_sampling_on_cuda(name):
    model = small(name).to(CUDA)
    if name == "confgf":
        model.config["steps_per_level"] = 2
    mols = [Chem.MolFromSmiles("CC(=O)Nc1ccccc1"), Chem.MolFromSmiles("OCC1CCCO1")]
    for mol, out in zip(mols, model.sample(mols, 3, seed=1)):
        assert not isinstance(out, Exception), out
        assert out.GetNumConformers() == 3 and out.GetNumAtoms() == mol.GetNumAtoms()
        assert all(torch.isfinite(torch.as_tensor(c.GetPositions())).all() for c in out.GetConformers())


def test_confopt_refines_the_same_on_cuda_and_cpu():
    model = small("confopt").eval()
    batch = batch_for(model)
    x0 = batch.ref_pos[:batch.atomic_numbers.numel()] + 0.1 * torch.randn(batch.atomic_numbers.numel(), 3)
    with torch.no_grad():
        cpu = model.optimize_batch(batch, x0)
        gpu = model.to(CUDA).optimize_batch(batch.to(CUDA), x0.to(CUDA)).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-4)


def test_dmcg_decodes_the_same_on_cuda_and_cpu():
    model = small("dmcg").eval()
    batch = batch_for(model)
    cpu = model.generate_batch(batch, torch.Generator().manual_seed(3))
    gpu = model.to(CUDA).generate_batch(batch.to(CUDA), torch.Generator().manual_seed(3)).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-3)


def _config(path, **train):
    cache, split = nci_xtb("qm9")
    settings = ", ".join(f"{k}: {v}" for k, v in {"max_steps": 4, "log_every": 1, "val_every": 2,
                                                      "checkpoint_every": 2, "progress": "false", **train}.items())
    path.write_text(f"model: {{name: dmcg, dim: 32, mlp_hidden: 64, layers: 2, heads: 4}}\n"
                    f"data: {{cache: {cache}, split: {split}, batch_size: 8, val_max_batches: 1}}\n"
                    f"train: {{{settings}, metric: final}}\n")
    return str(path)


def _cli(*args, env=None):
    result = subprocess.run([sys.executable, "-m", "conformers.cli.main", *map(str, args)], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def test_mixed_precision_training_on_cuda_resumes_on_the_cpu(tmp_path):
    cfg = _config(tmp_path / "c.yaml", precision="bfloat16")
    run = tmp_path / "run"
    _cli("train", "-c", cfg, "-o", run, "--device", "cuda", "--set", "train.max_steps=2")
    assert json.loads((run / "final.json").read_text())["device"].startswith("cuda")
    _cli("train", "-c", cfg, "-o", run, "--device", "cpu", "--resume")
    final = json.loads((run / "final.json").read_text())
    assert final["step"] == 4 and final["device"] == "cpu"


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="a 2-rank NCCL step needs two GPUs")
def test_two_ranks_train_over_nccl(tmp_path):
    cfg = _config(tmp_path / "c.yaml", precision="float32")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
                             "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "-m",
                             "conformers.cli.main", "train", "-c", cfg, "-o", tmp_path / "ddp", "--device", "cuda"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    final = json.loads((tmp_path / "ddp" / "final.json").read_text())
    assert final["world_size"] == 2 and final["ranks_in_sync"] and final["device"] == "cuda:0"
