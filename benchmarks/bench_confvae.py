"""ConfVAE's unrolled distance-geometry inner loop on this CPU, forward + backward, the hot spot of
a training step: T steps of R <- R - lr grad H(R, d) from random starts, then the aligned RMSD
(ck.rmsd) to the references, backpropagated to the target distances d. 32 drug-like molecules of
the repository's set on the extended graph (bonds, 2- and 3-hop pairs). Ours: conformer_kernels'
edge_geometry + vector_aggregation with the backward recomputing one step at a time from the kept
R_t (mode "checkpoint"), and the same kernels unrolled under autograd ("autograd"); the peer: the
loop in plain PyTorch ops under autograd. Time (pytest-benchmark) and peak memory (torch.profiler's
CPU memory timeline). Targets (issue 8): at least 2x each against plain."""
import pytest
import torch

import conformer_kernels as ck
from conformers.data import Collater, ConformerDataset, MoleculeCache, nci_xtb
from conformers.models.confvae.distance_geometry import distance_geometry, plain_distance_geometry

from .bench_confopt_layer import peak_memory_mb
from .conftest import MEDIANS, ratio

STEPS, LR = 50, 0.02


@pytest.fixture(scope="module")
def workload():
    ds = ConformerDataset(MoleculeCache(nci_xtb("drugs")[0]))
    seen, items = set(), []
    for k in range(len(ds)):
        if ds[k]["index"] not in seen:
            seen.add(ds[k]["index"])
            items.append(ds[k])
        if len(items) == 32:
            break
    batch = Collater(ds, ("extended",))(items)
    i, j = batch.extended_index
    d = (batch.pos[i] - batch.pos[j]).norm(dim=1) * 1.05  # stand-in for the CNF's distances
    g = torch.Generator().manual_seed(0)
    return batch, torch.randn(batch.pos.shape, generator=g), d


def inner_loop_step(workload, mode):
    batch, x0, d = workload
    d = d.clone().requires_grad_()
    if mode == "plain":
        x = plain_distance_geometry(x0, batch.extended_index, d, STEPS, LR)
    else:
        x = distance_geometry(x0, batch.extended_index, d, STEPS, LR, mode=mode)
    ck.rmsd(x, batch.pos, ptr=batch.ptr).mean().backward()


@pytest.mark.parametrize("mode", ["checkpoint", "autograd", "plain"])
def test_inner_loop_time(record, workload, mode):
    record(f"confvae_{mode}", inner_loop_step, workload, mode, rounds=5)


def test_memory_and_targets(workload):
    batch = workload[0]
    for mode in ("checkpoint", "autograd", "plain"):
        MEDIANS[f"mem_confvae_{mode}"] = peak_memory_mb(inner_loop_step, workload, mode)
    print(f"\n32 molecules, {batch.pos.shape[0]} atoms, {batch.extended_index.shape[1]} edges, {STEPS} steps")
    for mode in ("checkpoint", "autograd"):
        print(f"{mode}: {MEDIANS[f'confvae_{mode}'] * 1e3:.1f} ms / {MEDIANS[f'mem_confvae_{mode}']:.1f} MB; plain "
              f"{MEDIANS['confvae_plain'] * 1e3:.1f} ms / {MEDIANS['mem_confvae_plain']:.1f} MB: "
              f"{ratio('confvae_plain', f'confvae_{mode}'):.2f}x faster, "
              f"{MEDIANS['mem_confvae_plain'] / max(MEDIANS[f'mem_confvae_{mode}'], 1e-9):.2f}x less peak memory")
    assert ratio("confvae_plain", "confvae_checkpoint") >= 2.0
    assert MEDIANS["mem_confvae_plain"] >= 2.0 * MEDIANS["mem_confvae_checkpoint"]
