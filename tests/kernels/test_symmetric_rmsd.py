"""symmetric_rmsd, rmsd_matrix and rtp_loss against brute force, RDKit GetBestRMS, and by properties."""
import warnings

import pytest
import torch
from hypothesis import given, settings, strategies as st
from rdkit import Chem
from rdkit.Chem import rdMolAlign

import conformer_kernels as ck
from conformer_kernels.reference.symmetric_rmsd import permuted_sse
from conformer_kernels.testing import perturbed_copies, random_conformers, random_rotations, rmsd_tolerance

from tests.molecules import conformer_tensor, embed, embedded_pairs


def _brute_force_rmsd(X, Y, perms):
    return (permuted_sse(X.double(), Y.double(), perms).min(-1).values.clamp_min(0) / X.shape[-2]).sqrt()


def _ring_graph(n):
    """A symmetric test table: the dihedral group of an n-cycle."""
    bonds = torch.tensor([[i, (i + 1) % n] for i in range(n)])
    return ck.automorphisms((torch.zeros(n, dtype=torch.int64), bonds))


def test_get_best_rms_parity_on_300_molecules():
    """Default-argument GetBestRMS on heavy atoms equals ours within 1e-4 A (float64 and float32)."""
    mols = embedded_pairs()
    assert len(mols) >= 300
    worst, skipped = 0.0, 0
    for mol in mols:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            perms = ck.automorphisms(mol)
        if caught:  # capped symmetry: the fallback has its own test
            skipped += 1
            continue
        X, Y = conformer_tensor(mol)
        expected = rdMolAlign.GetBestRMS(Chem.Mol(mol), Chem.Mol(mol), prbId=0, refId=1)
        ours64 = float(ck.symmetric_rmsd(X, Y, perms))
        ours32 = float(ck.symmetric_rmsd(X.float(), Y.float(), perms))
        matrix = float(ck.rmsd_matrix(X[None], Y[None], perms)[0, 0])
        worst = max(worst, abs(ours64 - expected), abs(ours32 - expected), abs(matrix - expected))
    assert skipped <= 1 and worst < 1e-4, worst


def test_swapped_carboxylic_oxygens_have_zero_rmsd():
    mol = embed(Chem.MolFromSmiles("O=C(O)c1ccccc1"), 1)
    X = conformer_tensor(mol)[0]
    swapped = X.clone()
    swapped[[0, 2]] = X[[2, 0]]  # exchange the two oxygens
    perms = ck.automorphisms(mol)
    assert float(ck.symmetric_rmsd(swapped, X, perms)) < 1e-6
    probe = Chem.Mol(mol)
    probe.GetConformer().SetPositions(swapped.numpy())
    assert rdMolAlign.GetBestRMS(probe, mol) < 1e-6
    # Without the symmetrization the swap costs the C=O / C-O bond-length difference, as in RDKit.
    plain = ck.automorphisms(mol, symmetrize_conjugated_terminal_groups=False)
    expected = rdMolAlign.GetBestRMS(probe, mol, symmetrizeConjugatedTerminalGroups=False)
    assert expected > 0.01 and abs(float(ck.symmetric_rmsd(swapped, X, plain)) - expected) < 1e-6


@pytest.mark.parametrize("n_atoms", [1, 2, 3, 6, 12])
def test_rmsd_matrix_matches_brute_force(device, dtype, n_atoms):
    g = torch.Generator().manual_seed(n_atoms)
    X = random_conformers(7, n_atoms, generator=g)
    Y = perturbed_copies(X[:5], 0.6, generator=g)
    perms = _ring_graph(n_atoms) if n_atoms >= 3 else torch.arange(n_atoms)[None]
    out, best = ck.rmsd_matrix(X.to(device, dtype), Y.to(device, dtype), perms, return_best=True)
    expected = _brute_force_rmsd(X[:, None].expand(7, 5, -1, -1), Y[None].expand(7, 5, -1, -1), perms)
    assert out.shape == (7, 5) and best.shape == (7, 5)
    assert torch.allclose(out.double().cpu(), expected, atol=rmsd_tolerance(dtype, n_atoms) * 10)
    # best really is the minimising permutation.
    chosen = ck.rmsd(X[:, None].expand(7, 5, -1, -1)[..., :, :].reshape(35, n_atoms, 3)[torch.arange(35)[:, None], perms[best.cpu().reshape(-1)]],
                     Y[None].expand(7, 5, -1, -1).reshape(35, n_atoms, 3))
    assert torch.allclose(chosen.reshape(7, 5), expected, atol=1e-6)
    plain = ck.rmsd_matrix(X.to(device, dtype), Y.to(device, dtype))
    assert torch.allclose(plain.double().cpu(), _brute_force_rmsd(X[:, None].expand(7, 5, -1, -1), Y[None].expand(7, 5, -1, -1), torch.arange(n_atoms)[None]), atol=rmsd_tolerance(dtype, n_atoms) * 10)


def test_rmsd_matrix_empty_sets(device):
    X = torch.zeros(0, 4, 3, device=device)
    assert ck.rmsd_matrix(X, torch.randn(3, 4, 3, device=device)).shape == (0, 3)


def test_symmetric_rmsd_dense_and_ragged(device, dtype):
    g = torch.Generator().manual_seed(9)
    sizes = [3, 5, 4, 6]
    Ps = [random_conformers(1, n, generator=g)[0] for n in sizes]
    Qs = [perturbed_copies(p[None], 0.4, generator=g)[0] for p in Ps]
    tables = [_ring_graph(n) for n in sizes]
    ptr = torch.tensor([0, 3, 8, 12, 18])
    out, best = ck.symmetric_rmsd(torch.cat(Ps).to(device, dtype), torch.cat(Qs).to(device, dtype), tables,
                                  ptr=ptr.to(device), return_best=True)
    flat = torch.cat([t.reshape(-1) for t in tables])
    perm_ptr = torch.tensor([0] + torch.tensor([t.numel() for t in tables]).cumsum(0).tolist())
    out2 = ck.symmetric_rmsd(torch.cat(Ps).to(device, dtype), torch.cat(Qs).to(device, dtype), flat, ptr=ptr.to(device), perm_ptr=perm_ptr)
    for b in range(4):
        expected = float(_brute_force_rmsd(Ps[b], Qs[b], tables[b]))
        assert abs(float(out[b]) - expected) < rmsd_tolerance(dtype, sizes[b]) * 10
        assert abs(float(out2[b]) - expected) < rmsd_tolerance(dtype, sizes[b]) * 10
        permuted = Ps[b][tables[b][int(best[b])]]
        assert abs(float(ck.rmsd(permuted, Qs[b])) - expected) < 1e-5
    X = random_conformers(5, 6, generator=g)
    Y = perturbed_copies(X, 0.3, generator=g)
    dense = ck.symmetric_rmsd(X.to(device, dtype), Y.to(device, dtype), _ring_graph(6))
    assert torch.allclose(dense.double().cpu(), _brute_force_rmsd(X, Y, _ring_graph(6)), atol=rmsd_tolerance(dtype, 6) * 10)


def test_rtp_loss_gradcheck_and_brute_force(device):
    g = torch.Generator().manual_seed(10)
    perms = _ring_graph(5)
    pred = random_conformers(3, 5, generator=g)
    ref = perturbed_copies(pred[:, perms[3]], 0.5, generator=g)
    loss = ck.rtp_loss(pred.to(device), ref.to(device), perms)
    expected = permuted_sse(pred, ref, perms).min(-1).values
    assert torch.allclose(loss.cpu(), expected, atol=1e-9)
    a = pred.to(device).requires_grad_()
    b = ref.to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: ck.rtp_loss(x, y, perms, reduction="sum"), (a, b))
    assert torch.autograd.gradcheck(lambda x, y: ck.symmetric_rmsd(x, y, perms), (a, b))


def test_rtp_loss_gradient_matches_brute_force_autograd():
    g = torch.Generator().manual_seed(11)
    perms = _ring_graph(6)
    pred = random_conformers(4, 6, generator=g)
    ref = perturbed_copies(pred, 0.7, generator=g)
    a = pred.clone().requires_grad_()
    ck.rtp_loss(a, ref, perms, reduction="mean").backward()
    c = pred.clone().requires_grad_()
    permuted_sse(c, ref, perms).min(-1).values.mean().backward()
    assert torch.allclose(a.grad, c.grad, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 9))
def test_rtp_invariances(seed, n):
    """l_RTP is invariant to rotating, translating and symmetric-permuting either input."""
    g = torch.Generator().manual_seed(seed)
    perms = _ring_graph(n)
    pred = random_conformers(1, n, generator=g)
    ref = perturbed_copies(pred, 0.5, generator=g)
    base = float(ck.rtp_loss(pred, ref, perms))
    R = random_rotations(2, generator=g)
    sigma = perms[int(torch.randint(len(perms), (1,), generator=g))]
    assert abs(float(ck.rtp_loss(pred @ R[0].T + 3.0, ref, perms)) - base) < 1e-7
    assert abs(float(ck.rtp_loss(pred, ref @ R[1].T - 1.0, perms)) - base) < 1e-7
    assert abs(float(ck.rtp_loss(pred[:, sigma], ref, perms)) - base) < 1e-7
    assert abs(float(ck.rtp_loss(pred, ref[:, sigma], perms)) - base) < 1e-7


def test_rtp_loss_mean_distance_against_brute_force():
    """metric="mean_distance" (DMCG's released loss): at the sse-optimal permutation and rotation,
    the mean per-atom distance; invariant to rigid motions and symmetric permutations of pred; its
    gradient holds the rotation fixed."""
    g = torch.Generator().manual_seed(12)
    perms = _ring_graph(6)
    pred = random_conformers(3, 6, generator=g)
    ref = perturbed_copies(pred[:, perms[2]], 0.4, generator=g)
    loss = ck.rtp_loss(pred, ref, perms, metric="mean_distance")
    best = permuted_sse(pred, ref, perms).min(-1).indices
    for b in range(3):
        P = pred[b, perms[best[b]]]
        R, t, _ = ck.kabsch(P, ref[b])
        expected = (P @ R.reshape(3, 3).T + t.reshape(3) - ref[b]).norm(dim=1).mean()
        assert abs(float(loss[b]) - float(expected)) < 1e-9
    R = random_rotations(1, generator=g)[0]
    torch.testing.assert_close(ck.rtp_loss(pred[:, perms[4]] @ R.T + 2.0, ref, perms, metric="mean_distance"), loss)
    a = pred.clone().requires_grad_()
    ck.rtp_loss(a, ref, perms, metric="mean_distance", reduction="sum").backward()
    c = pred.clone().requires_grad_()
    total = 0
    for b in range(3):
        P = c[b, perms[best[b]]]
        R, t, _ = ck.kabsch(P.detach(), ref[b])
        total = total + (P @ R.reshape(3, 3).T + t.reshape(3) - ref[b]).norm(dim=1).mean()
    total.backward()
    torch.testing.assert_close(a.grad, c.grad)
    with pytest.raises(ValueError, match="metric"):
        ck.rtp_loss(pred, ref, perms, metric="rmsd")


@pytest.mark.parametrize("smiles", ["CC(C)(C)c1cc(C(C)(C)C)cc(C(C)(C)C)c1", "CC(C)(C)c1ccc(C(C)(C)C)cc1",
                                    "CC(C)(C)C(C(C)(C)C)(C(C)(C)C)C(C)(C)C"])
def test_capped_symmetry_fallback_is_exact(smiles):
    """A tiny cap plus the fallback (guided search, then branch and bound over all automorphisms)
    gives the exact symmetric RMSD of the full enumeration (tetra-tert-butylmethane: 31,104), where
    the capped table alone is far off; the ops agree with each other."""
    mol = embed(Chem.MolFromSmiles(smiles), 5)
    X = conformer_tensor(mol)
    exact = ck.rmsd_matrix(X, X.flip(0), ck.automorphisms(mol))
    with pytest.warns(ck.SymmetryCapWarning):
        capped = ck.automorphisms(mol, max_count=2)
    capped_only = ck.rmsd_matrix(X, X.flip(0), capped)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ck.SymmetryCapWarning)  # exact: no warning that it is a bound
        fallback = ck.rmsd_matrix(X, X.flip(0), capped, graph=mol)
        pairs = ck.symmetric_rmsd(X[:4], X.flip(0)[1:], capped, graph=mol)
    assert (capped_only - exact).max() > 0.1  # the cap alone is far off ...
    torch.testing.assert_close(fallback, exact, atol=1e-6, rtol=0)  # ... the fallback exact
    assert torch.allclose(pairs, torch.stack([fallback[i, i + 1] for i in range(4)]), atol=1e-9)


def test_capped_fallback_past_its_step_budget_is_an_upper_bound_and_says_so():
    """With a step budget too small to finish, the branch and bound returns the best automorphism
    it found (never below the exact value) and reports that it is not proven exact."""
    from conformer_kernels.ops.symmetric_rmsd import guided_sse

    mol = embed(Chem.MolFromSmiles("CC(C)(C)C(C(C)(C)C)(C(C)(C)C)C(C)(C)C"), 4)
    X = conformer_tensor(mol).double()
    full = ck.automorphisms(mol)
    exact = ck.rmsd_matrix(X[:2], X[2:], full).reshape(-1) ** 2 * X.shape[1]
    start = torch.arange(X.shape[1]).expand(4, -1)
    sse, proven = guided_sse(X[:2].repeat_interleave(2, 0), X[2:].repeat(2, 1, 1), mol, start, max_steps=50)
    assert not proven.any() and (sse >= exact - 1e-6).all()
    sse, proven = guided_sse(X[:2].repeat_interleave(2, 0), X[2:].repeat(2, 1, 1), mol, start)
    assert proven.all()
    torch.testing.assert_close(sse, exact, atol=1e-6, rtol=0)


def test_reference_switch_for_symmetric_ops():
    g = torch.Generator().manual_seed(12)
    perms = _ring_graph(5)
    X = random_conformers(3, 5, generator=g)
    Y = perturbed_copies(X, 0.3, generator=g)
    with ck.use_reference():
        ref_matrix = ck.rmsd_matrix(X, Y, perms)
        ref_pairs = ck.symmetric_rmsd(X, Y, perms)
        ref_loss = ck.rtp_loss(X, Y, perms)
    assert torch.allclose(ck.rmsd_matrix(X, Y, perms), ref_matrix, atol=1e-9)
    assert torch.allclose(ck.symmetric_rmsd(X, Y, perms), ref_pairs, atol=1e-9)
    assert torch.allclose(ck.rtp_loss(X, Y, perms), ref_loss, atol=1e-9)


def test_same_name_references_match_the_ops():
    """Every op's reference has the op's name and signature: symmetric_rmsd (dense, one pair and
    ragged with a flat table), rtp_loss (both metrics), rmsd_matrix, automorphisms and
    symmetry_classes (same partition), segment_attention."""
    from rdkit import Chem

    from conformer_kernels import reference as _  # noqa: F401  (the package of specs)
    from conformer_kernels.reference import automorphisms as ref_auto
    from conformer_kernels.reference import segment_softmax as ref_softmax
    from conformer_kernels.reference import symmetric_rmsd as ref

    g = torch.Generator().manual_seed(3)
    mol = Chem.MolFromSmiles("OC(=O)c1ccc(C(C)(C)C)cc1")
    perms = ck.automorphisms(mol)
    assert torch.equal(torch.unique(perms, dim=0), ref_auto.automorphisms(mol))  # the same set (sorted rows)
    classes, ref_classes = ck.symmetry_classes(mol), ref_auto.symmetry_classes(mol)
    assert torch.equal(classes[:, None] == classes[None], ref_classes[:, None] == ref_classes[None])
    n = mol.GetNumAtoms()
    P, Q = torch.randn(4, n, 3, generator=g, dtype=torch.float64), torch.randn(4, n, 3, generator=g, dtype=torch.float64)
    for args in ((P, Q, perms), (P[0], Q[0], perms)):
        got, best = ck.symmetric_rmsd(*args, return_best=True)
        want, want_best = ref.symmetric_rmsd(*args, return_best=True)
        torch.testing.assert_close(got, want)
        assert torch.equal(best, want_best)
    ptr = torch.tensor([0, n, 2 * n])
    flat, perm_ptr = torch.cat([perms.flatten(), perms.flatten()]), torch.tensor([0, perms.numel(), 2 * perms.numel()])
    torch.testing.assert_close(ck.symmetric_rmsd(P[:2].reshape(-1, 3), Q[:2].reshape(-1, 3), flat, ptr, perm_ptr),
                               ref.symmetric_rmsd(P[:2].reshape(-1, 3), Q[:2].reshape(-1, 3), flat, ptr, perm_ptr))
    for metric in ("sse", "mean_distance"):
        torch.testing.assert_close(ck.rtp_loss(P, Q, perms, reduction="mean", metric=metric),
                                   ref.rtp_loss(P, Q, perms, reduction="mean", metric=metric))
    got, best = ck.rmsd_matrix(P, Q[:3], perms, return_best=True)
    want, want_best = ref.rmsd_matrix(P, Q[:3], perms, return_best=True)
    torch.testing.assert_close(got, want)
    assert torch.equal(best, want_best)
    index = torch.tensor([[0, 0, 1, 2, 2], [1, 2, 0, 0, 1]])
    q, k, v = torch.randn(3, 2, 4, generator=g), torch.randn(5, 2, 4, generator=g), torch.randn(5, 2, 3, generator=g)
    torch.testing.assert_close(ck.segment_attention(q, k, v, index), ref_softmax.segment_attention(q, k, v, index))


def test_rmsd_matrices_equal_rmsd_matrix_per_molecule(device, dtype):
    """One call over many molecules (sizes, counts and permutation tables differ) gives each
    molecule's rmsd_matrix, on the kernels and on the reference; bad input names the molecule."""
    g = torch.Generator().manual_seed(5)
    shapes = [(3, 17, 5), (20, 2, 9), (1, 1, 4), (0, 3, 6), (33, 40, 12)]  # (G, R, N)
    Xs = [torch.randn(G, n, 3, generator=g, dtype=torch.float64).to(device, dtype) for G, _, n in shapes]
    Ys = [torch.randn(R, n, 3, generator=g, dtype=torch.float64).to(device, dtype) for _, R, n in shapes]
    perms = [None, torch.stack([torch.arange(9), torch.arange(9).flip(0)]), None, None,
             torch.stack([torch.arange(12), torch.tensor([1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 11, 10])])]
    batched = ck.rmsd_matrices(Xs, Ys, perms)
    with ck.use_reference():
        reference = ck.rmsd_matrices(Xs, Ys, perms)
    for X, Y, P, out, ref in zip(Xs, Ys, perms, batched, reference):
        single = ck.rmsd_matrix(X, Y, P)
        assert out.shape == single.shape == (X.shape[0], Y.shape[0])
        assert torch.allclose(out, single, atol=1e-6, rtol=0) and torch.allclose(out, ref, atol=1e-4, rtol=0)
    assert ck.rmsd_matrices([], []) == []
    bad = [y.clone() for y in Ys]
    bad[4][0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"Ys\[4\] contains NaN"):
        ck.rmsd_matrices(Xs, bad, perms)
    with pytest.raises(ValueError, match="one entry per molecule"):
        ck.rmsd_matrices(Xs, Ys[:2])


def test_ragged_batch_in_lanes_equals_pairs_one_at_a_time(dtype):
    """37 pairs of different sizes and permutation tables (16 per SIMD lane group on the CPU, the
    last 5 alone) give what each pair gives on its own, and the row reported best attains it
    (rows that tie may differ in the last bits and so in which one is reported)."""
    g = torch.Generator().manual_seed(7)
    sizes = [int(s) for s in torch.randint(1, 14, (37,), generator=g)]
    Ps = [torch.randn(n, 3, generator=g, dtype=torch.float64).to(dtype) for n in sizes]
    Qs = [p + 0.4 * torch.randn(p.shape, generator=g, dtype=torch.float64).to(dtype) for p in Ps]
    tables = []
    for n in sizes:
        rows = [torch.arange(n)] + [torch.randperm(n, generator=g) for _ in range(int(torch.randint(0, 6, (1,), generator=g)))]
        tables.append(torch.stack(rows))
    ptr = torch.tensor([0] + sizes).cumsum(0)
    together, best = ck.symmetric_rmsd(torch.cat(Ps), torch.cat(Qs), tables, ptr=ptr, return_best=True)
    for b, (p, q, t) in enumerate(zip(Ps, Qs, tables)):
        alone = ck.symmetric_rmsd(p[None], q[None], t)
        by_best_row = ck.symmetric_rmsd(p[None], q[None], t[int(best[b])][None])
        tol = 1e-5 if dtype == torch.float32 else 1e-9
        assert abs(float(together[b]) - float(alone[0])) < tol and abs(float(by_best_row[0]) - float(alone[0])) < tol
