"""kabsch / rmsd / aligned_squared_error against the SVD reference, RDKit, and by properties."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

import conformer_kernels as ck
from conformer_kernels.reference.kabsch import kabsch_svd
from conformer_kernels.testing import perturbed_copies, random_conformers, random_rotations, rmsd_tolerance

from tests.molecules import embedded_pairs


def _ref_rmsd(P, Q, w=None):
    _, _, sse = kabsch_svd(P.double(), Q.double(), None if w is None else w.double())
    wsum = torch.full(sse.shape, P.shape[-2], dtype=torch.float64) if w is None else w.double().sum(-1)
    return (sse / wsum).sqrt()


@pytest.mark.parametrize("n_atoms", [0, 1, 2, 3, 7, 40])
def test_matches_svd_reference(device, dtype, n_atoms):
    g = torch.Generator().manual_seed(n_atoms)
    P = random_conformers(64, n_atoms, generator=g)
    Q = perturbed_copies(P, 0.5, generator=g)
    R, t, r = ck.kabsch(P.to(device, dtype), Q.to(device, dtype))
    assert R.shape == (64, 3, 3) and t.shape == (64, 3) and r.shape == (64,)
    if n_atoms == 0:
        assert torch.equal(r.cpu(), torch.zeros(64, dtype=dtype))
        assert torch.allclose(R.cpu(), torch.eye(3, dtype=dtype).expand(64, 3, 3))
        return
    ref = _ref_rmsd(P, Q)
    tol = rmsd_tolerance(dtype, n_atoms)
    assert torch.allclose(r.double().cpu(), ref, atol=tol, rtol=0)
    # The transform really achieves that RMSD, and R is a proper rotation.
    aligned = P.to(device, dtype) @ R.transpose(1, 2) + t[:, None]
    achieved = ((aligned - Q.to(device, dtype)) ** 2).sum(-1).mean(-1).sqrt()
    assert torch.allclose(achieved.double().cpu(), ref, atol=10 * tol, rtol=0)
    eye = torch.eye(3, dtype=dtype, device=device).expand(64, 3, 3)
    assert torch.allclose(R @ R.transpose(1, 2), eye, atol=10 * tol)
    assert torch.allclose(torch.linalg.det(R.double()), torch.ones(64, dtype=torch.float64, device=device), atol=1e-4)


def test_weights_match_reference(device, dtype):
    g = torch.Generator().manual_seed(1)
    P = random_conformers(32, 12, generator=g)
    Q = perturbed_copies(P, 0.7, generator=g)
    w = torch.rand(32, 12, generator=g, dtype=torch.float64) + 0.1
    r = ck.rmsd(P.to(device, dtype), Q.to(device, dtype), weights=w.to(device, dtype))
    assert torch.allclose(r.double().cpu(), _ref_rmsd(P, Q, w), atol=rmsd_tolerance(dtype, 12))
    # A shared (N,) weight vector broadcasts over the batch; zero weight drops an atom.
    w1 = torch.ones(12, dtype=dtype, device=device)
    w1[5] = 0
    keep = [i for i in range(12) if i != 5]
    r1 = ck.rmsd(P.to(device, dtype), Q.to(device, dtype), weights=w1)
    assert torch.allclose(r1.double().cpu(), _ref_rmsd(P[:, keep], Q[:, keep]), atol=rmsd_tolerance(dtype, 12))


def test_ragged_equals_dense_per_pair(device, dtype):
    g = torch.Generator().manual_seed(2)
    sizes = [5, 0, 1, 2, 17, 9]
    Ps = [random_conformers(1, n, generator=g)[0] for n in sizes]
    Qs = [perturbed_copies(p[None], 0.3, generator=g)[0] for p in Ps]
    ptr = torch.tensor([0] + list(torch.tensor(sizes).cumsum(0)), dtype=torch.int64)
    R, t, r = ck.kabsch(torch.cat(Ps).to(device, dtype), torch.cat(Qs).to(device, dtype), ptr=ptr.to(device))
    for b, (p, q) in enumerate(zip(Ps, Qs)):
        expected = 0.0 if p.shape[0] == 0 else float(_ref_rmsd(p[None], q[None]))
        assert abs(float(r[b]) - expected) < rmsd_tolerance(dtype, p.shape[0])
    single = ck.rmsd(Ps[4].to(device, dtype), Qs[4].to(device, dtype))
    assert single.dim() == 0 and abs(float(single) - float(r[4])) < 1e-5


@pytest.mark.parametrize("case", ["one_atom", "two_atoms", "collinear", "identical", "reflected", "planar",
                                  "coincident", "symmetric_top"])
def test_degenerate_inputs_are_finite_and_optimal(device, dtype, case):
    g = torch.Generator().manual_seed(3)
    B = 20  # 16 pairs solved in SIMD lanes on the CPU, 4 one at a time
    if case == "one_atom":
        P = torch.randn(B, 1, 3, generator=g, dtype=torch.float64)
    elif case == "two_atoms":
        P = torch.randn(B, 2, 3, generator=g, dtype=torch.float64)
    elif case == "collinear":
        P = torch.linspace(-3, 3, 6, dtype=torch.float64)[None, :, None] * torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64)
        P = P.expand(B, 6, 3).clone()
    elif case == "planar":
        P = random_conformers(B, 8, generator=g)
        P[..., 2] = 0
    elif case == "coincident":
        P = torch.ones(B, 5, 3, dtype=torch.float64)
    elif case == "symmetric_top":  # a square: the key matrix has a repeated eigenvalue when Q = P
        P = torch.tensor([[1.0, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], dtype=torch.float64).expand(B, 4, 3).clone()
    else:
        P = random_conformers(B, 10, generator=g)
    if case == "identical":
        Q = P.clone()
    elif case == "reflected":
        Q = P * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    elif case in ("symmetric_top", "coincident"):
        Q = P.clone()
    else:
        Q = P @ random_rotations(B, generator=g).transpose(1, 2) + 2.0
    R, t, r = ck.kabsch(P.to(device, dtype), Q.to(device, dtype))
    assert torch.isfinite(R).all() and torch.isfinite(t).all() and torch.isfinite(r).all()
    expected = _ref_rmsd(P, Q)
    assert torch.allclose(r.double().cpu(), expected, atol=rmsd_tolerance(dtype, P.shape[1]) * 10)
    aligned = P.to(device, dtype) @ R.transpose(1, 2) + t[:, None]
    achieved = ((aligned - Q.to(device, dtype)) ** 2).sum(-1).mean(-1).sqrt()
    assert torch.allclose(achieved.double().cpu(), expected, atol=1e-3 if dtype == torch.float32 else 1e-6)
    if case == "reflected":  # a mirror image is not superposable: RMSD stays well above 0
        assert (r > 0.1).all()


def test_gradcheck_rmsd_and_sse(device):
    g = torch.Generator().manual_seed(4)
    P = random_conformers(3, 6, generator=g).to(device).requires_grad_()
    Q = perturbed_copies(P.detach().cpu(), 0.8, generator=g).to(device).requires_grad_()
    w = (torch.rand(3, 6, generator=g, dtype=torch.float64) + 0.5).to(device)
    assert torch.autograd.gradcheck(lambda a, b: ck.rmsd(a, b), (P, Q))
    assert torch.autograd.gradcheck(lambda a, b: ck.aligned_squared_error(a, b, weights=w), (P, Q))
    ptr = torch.tensor([0, 2, 7, 18], device=device)
    Pr, Qr = P.detach().reshape(-1, 3)[:18].clone().requires_grad_(), Q.detach().reshape(-1, 3)[:18].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: ck.rmsd(a, b, ptr=ptr), (Pr, Qr))


def test_gradient_matches_svd_autograd(dtype):
    g = torch.Generator().manual_seed(5)
    P = random_conformers(8, 15, generator=g)
    Q = perturbed_copies(P, 1.0, generator=g)
    a, b = P.to(dtype).clone().requires_grad_(), Q.to(dtype).clone().requires_grad_()
    ck.aligned_squared_error(a, b).sum().backward()
    c, d = P.clone().requires_grad_(), Q.clone().requires_grad_()
    kabsch_svd(c, d)[2].sum().backward()
    tol = 1e-3 if dtype == torch.float32 else 1e-9
    assert torch.allclose(a.grad.double(), c.grad, atol=tol) and torch.allclose(b.grad.double(), d.grad, atol=tol)


def test_zero_rmsd_has_zero_gradient():
    P = random_conformers(2, 5).requires_grad_()
    ck.rmsd(P, P.detach().clone()).sum().backward()
    assert torch.isfinite(P.grad).all() and P.grad.abs().max() < 1e-6


def test_matches_rdkit_align_mol():
    """Plain aligned RMSD equals RDKit's AlignMol within 1e-5 A on real ETKDG conformer pairs."""
    from rdkit import Chem
    from rdkit.Chem import rdMolAlign

    mols = embedded_pairs()
    worst = 0.0
    for mol in mols:
        X = torch.tensor(mol.GetConformer(0).GetPositions())
        Y = torch.tensor(mol.GetConformer(1).GetPositions())
        ref = rdMolAlign.AlignMol(Chem.Mol(mol), mol, prbCid=0, refCid=1)
        worst = max(worst, abs(float(ck.rmsd(X, Y)) - ref), abs(float(ck.rmsd(X.float(), Y.float())) - ref))
    assert len(mols) >= 300 and worst < 1e-5, worst


finite = st.floats(-20, 20, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 12), seed=st.integers(0, 10_000), shift=st.tuples(finite, finite, finite))
def test_invariance_properties(n, seed, shift):
    g = torch.Generator().manual_seed(seed)
    P = random_conformers(1, n, generator=g)
    Q = perturbed_copies(P, 0.5, generator=g)
    base = float(ck.rmsd(P, Q))
    R = random_rotations(2, generator=g)
    t = torch.tensor(shift, dtype=torch.float64)
    perm = torch.randperm(n, generator=g)
    assert math.isclose(float(ck.rmsd(P @ R[0].T + t, Q)), base, abs_tol=1e-8)
    assert math.isclose(float(ck.rmsd(P, Q @ R[1].T - t)), base, abs_tol=1e-8)
    assert math.isclose(float(ck.rmsd(P[:, perm], Q[:, perm])), base, abs_tol=1e-8)  # relabelling both
    assert math.isclose(float(ck.rmsd(Q, P)), base, abs_tol=1e-8)  # symmetric in its arguments


def test_reference_switch_runs_the_reference():
    P = random_conformers(4, 6)
    Q = perturbed_copies(P, 0.4)
    with ck.use_reference():
        R_ref, t_ref, r_ref = ck.kabsch(P, Q)
    R, t, r = ck.kabsch(P, Q)
    assert torch.allclose(r, r_ref, atol=1e-10) and torch.allclose(R, R_ref, atol=1e-8) and torch.allclose(t, t_ref, atol=1e-8)


def test_the_reference_has_the_public_ops_names_and_signatures():
    """conformer_kernels.reference.kabsch's kabsch / rmsd / aligned_squared_error take what the ops
    take and give what they give: dense, one pair, weighted, ragged."""
    import inspect

    from conformer_kernels.reference import kabsch as ref

    g = torch.Generator().manual_seed(0)
    P = torch.randn(5, 7, 3, generator=g, dtype=torch.float64)
    Q = P @ ck.random_rotations(1, generator=g)[0].T + 0.2 * torch.randn(5, 7, 3, generator=g, dtype=torch.float64)
    w = torch.rand(5, 7, generator=g, dtype=torch.float64)
    ptr = torch.tensor([0, 3, 10, 10, 17])
    cases = [(P, Q, None, None), (P[0], Q[0], None, None), (P, Q, w, None),
             (P.reshape(-1, 3)[:17], Q.reshape(-1, 3)[:17], None, ptr)]
    for op in ("kabsch", "rmsd", "aligned_squared_error"):
        assert inspect.signature(getattr(ref, op)).parameters.keys() == inspect.signature(getattr(ck, op)).parameters.keys()
        for args in cases:
            got, want = getattr(ref, op)(*args), getattr(ck, op)(*args)
            for a, b in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
                torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7)
