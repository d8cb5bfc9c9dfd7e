"""Batched kabsch: B = 1e5 pairs of 25 atoms, quaternion kernel vs torch.linalg.svd Kabsch."""
import pytest
import torch

import conformer_kernels as ck
from conformer_kernels.reference.kabsch import kabsch_svd
from conformer_kernels.testing import perturbed_copies, random_conformers

from .conftest import ratio

B, N = 100_000, 25


@pytest.fixture(scope="module")
def pairs():
    g = torch.Generator().manual_seed(0)
    P = random_conformers(B, N, generator=g)
    return P, perturbed_copies(P, 0.5, generator=g)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_kabsch_ours(record, pairs, dtype):
    P, Q = (x.to(dtype) for x in pairs)
    R, t, r = record(f"ours_{dtype}", ck.kabsch, P, Q)
    assert r.shape == (B,)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_kabsch_torch_svd(record, pairs, dtype):
    P, Q = (x.to(dtype) for x in pairs)
    record(f"svd_{dtype}", kabsch_svd, P, Q, rounds=3)


def test_rmsd_forward_backward_ours(record, pairs):
    P, Q = (x.float().requires_grad_() for x in pairs)
    record("ours_fwd_bwd", lambda: ck.rmsd(P, Q).sum().backward())


def test_rmsd_forward_backward_svd(record, pairs):
    P, Q = (x.float().requires_grad_() for x in pairs)
    record("svd_fwd_bwd", lambda: (kabsch_svd(P, Q)[2] / N).sqrt().sum().backward(), rounds=3)


def test_targets():
    """Target (issue 19): the quaternion kernel at least 30x torch.linalg.svd Kabsch (float32, 2-core CPU)."""
    f32 = ratio("svd_torch.float32", "ours_torch.float32")
    f64 = ratio("svd_torch.float64", "ours_torch.float64")
    train = ratio("svd_fwd_bwd", "ours_fwd_bwd")
    print(f"\nkabsch B={B} N={N}: {f32:.1f}x (float32), {f64:.1f}x (float64), rmsd fwd+bwd {train:.1f}x the SVD reference")
    assert f32 >= 30
