"""ConfVAE's distance-geometry inner loop: the fused gradient of H equals autograd of H, the
hypergradient through the unrolled loop matches finite differences (float64), and the checkpointed,
autograd and plain unrolls agree."""
import pytest
import torch
from rdkit import Chem

import conformer_kernels as ck
from conformers.data import features
from conformers.data.batch import collate
from conformers.models.common import ExtendedPairGraph
from conformers.models.confvae.distance_geometry import dg_energy, dg_gradient, distance_geometry


def molecule_batch(smiles="CC(=O)Nc1ccc(O)cc1"):
    """One molecule's graph with its extended edges, as the model's batches carry it."""
    return collate([{**features.featurize(Chem.MolFromSmiles(smiles)).arrays(), "index": 0}], ("extended",))


def molecule(smiles="CC(=O)Nc1ccc(O)cc1"):
    batch = molecule_batch(smiles)
    g = torch.Generator().manual_seed(0)
    n = batch.atomic_numbers.numel()
    x0 = torch.randn(n, 3, dtype=torch.float64, generator=g) * 1.5
    pair = torch.rand(n * n, dtype=torch.float64, generator=g) * 2 + 1.2
    i, j = batch.extended_index
    d = pair[torch.minimum(i, j) * n + torch.maximum(i, j)]  # one target per pair, both directions
    return x0, batch.extended_index, d


def test_fused_gradient_equals_autograd_of_the_energy():
    x0, index, d = molecule()
    x = x0.clone().requires_grad_()
    dg_energy(x, index, d).backward()
    torch.testing.assert_close(dg_gradient(x0, index, d), x.grad, rtol=1e-10, atol=1e-10)


def test_descent_lowers_the_energy():
    x0, index, d = molecule()
    x = distance_geometry(x0, index, d, steps=50, lr=0.02)
    assert float(dg_energy(x, index, d)) < 0.2 * float(dg_energy(x0, index, d))


@pytest.mark.parametrize("mode", ["fused", "reference"])
def test_hypergradient_matches_finite_differences(mode):
    x0, index, d = molecule("CCOC(=O)C")
    target = torch.randn_like(x0)
    d = d.clone().requires_grad_()
    loss = lambda dd: (distance_geometry(x0, index, dd, steps=6, lr=0.05) - target).square().sum()
    with ck.use_reference(mode == "reference"):
        assert torch.autograd.gradcheck(loss, (d,), eps=1e-6, atol=1e-6)


def test_the_fused_unroll_equals_its_reference_and_the_last_step_variant_differs():
    x0, index, d = molecule()
    grads = {}
    for mode, reference in (("fused", False), ("fused", True), ("last", False)):
        dd = d.clone().requires_grad_()
        with ck.use_reference(reference):
            x = distance_geometry(x0, index, dd, 8, 0.05, mode=mode)
        x.square().sum().backward()
        grads[mode + "_reference" * reference] = dd.grad
    torch.testing.assert_close(grads["fused"], grads["fused_reference"], rtol=1e-9, atol=1e-9)
    assert not torch.allclose(grads["last"], grads["fused"], rtol=1e-3)


def test_bad_input():
    x0, index, d = molecule()
    with pytest.raises(ValueError, match="mode"):
        distance_geometry(x0, index, d, 3, 0.1, mode="checkpoint")
    with pytest.raises(ValueError, match="one target distance per edge"):
        distance_geometry(x0, index, d[:-1], 3, 0.1)
    with pytest.raises(ValueError, match="inner_init must be one of"):  # a typo in --model-set, say
        small_vae(inner_init="mdss")
    with pytest.raises(ValueError, match="inner_mode must be one of"):
        small_vae(inner_mode="plain")


def test_hypergradient_guard_drops_non_finite_molecules_and_clips():
    from conformers.models.confvae.model import _GuardedHypergradient
    molecule = torch.tensor([0, 0, 1, 1, 1, 2])
    d = torch.ones(6, requires_grad=True)
    dropped = torch.zeros((), dtype=torch.int64)
    out = _GuardedHypergradient.apply(d, molecule, 3, 1.0, dropped)
    out.backward(torch.tensor([0.1, 0.2, float("nan"), 1.0, 2.0, 3.0]))
    torch.testing.assert_close(d.grad, torch.tensor([0.1, 0.2, 0.0, 0.0, 0.0, 1.0]))
    assert int(dropped) == 1


def test_velocity_bound_bounds_the_flow():
    model = small_vae(velocity_bound=0.05)
    batch = molecule_batch("CCOC=O")
    graph = ExtendedPairGraph.of(batch)
    z = torch.randn(batch.atomic_numbers.numel(), 4)
    d = 100 * torch.randn(graph.pairs.first.numel())
    f = model.core.flow(torch.tensor(0.1), d, graph, model.core.flow.condition(graph, z))
    assert torch.isfinite(f).all() and float(f.abs().max()) <= 0.05 + 1e-7  # float32 rounding of 0.05


def small_vae(**kw):
    from conformers.models import create_model
    torch.manual_seed(0)
    return create_model("confvae", hidden=16, latent=4, layers=2, inner_steps=10, solver="rk4", ode_steps=4,
                        sample_steps=50, **kw)


def test_flow_round_trips_through_its_inverse():
    """Distances decoded from noise flow back to that noise (dopri5, tight tolerance, float64)."""
    model = small_vae().double()
    core = model.core
    core.solver, core.tol, core.options = "dopri5", 1e-9, None
    batch = molecule_batch("CCOC=O")
    graph = ExtendedPairGraph.of(batch)
    z = torch.randn(batch.atomic_numbers.numel(), 4, dtype=torch.float64)
    noise = torch.randn(graph.pairs.first.numel(), dtype=torch.float64)
    forward, _ = core._integrate(graph, z, noise, backward=False, with_logp=False)
    back, _ = core._integrate(graph, z, forward, backward=True, with_logp=False)
    assert not torch.allclose(forward, noise)
    torch.testing.assert_close(back, noise, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("trace", ["hutchinson", "exact"])
def test_likelihood_gradient_through_the_trace_equals_plain_ops(trace):
    """The trace term differentiates a vector-Jacobian product (second order): with the fused
    kernels the parameters' gradients equal those of the same model on plain PyTorch ops."""
    model = small_vae(trace=trace).double()
    batch = molecule_batch("CCOC(=O)N")
    graph = ExtendedPairGraph.of(batch)
    z = torch.randn(batch.atomic_numbers.numel(), 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    d = 1.0 + torch.rand(graph.pairs.first.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    grads = []
    for plain in (False, True):
        model.zero_grad()
        torch.manual_seed(3)  # the same Hutchinson probe
        with ck.use_reference(plain):
            model.core.log_likelihood(graph, z, d).sum().backward()
        grads.append([p.grad.clone() for p in model.core.flow.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["confvae", "confvae-minus"])
def test_training_step_on_real_molecules(name):
    from conformers.data import Collater, ConformerDataset, MoleculeCache, nci_xtb
    from conformers.models import create_model
    ds = ConformerDataset(MoleculeCache(nci_xtb("qm9")[0]))
    batch = Collater(ds, ("extended",))([ds[k] for k in range(0, 40, 5)])
    torch.manual_seed(0)
    model = create_model(name, hidden=16, latent=4, layers=2, inner_steps=10, solver="rk4", ode_steps=4)
    out = model(batch)
    assert ("recon_rmsd" in out) == (name == "confvae")
    assert all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert model.core.flow.d_in.weight.grad is not None and model.core.encoder.head[0].weight.grad is not None


def test_encoder_reads_one_feature_row_per_pair():
    """The encoder's edge features, computed once per unordered pair and read by both directions,
    give what one row per directed edge gives (the edge type and d_ij are symmetric)."""
    from conformers.models.dmcg.layers import segment_mean
    x0, index, _ = molecule()
    batch = molecule_batch()
    graph, encoder = ExtendedPairGraph.of(batch), small_vae().double().core.encoder
    pairs = graph.pairs
    d = (x0[pairs.i] - x0[pairs.j]).norm(dim=1)
    mu, log_sigma = encoder(graph, d)
    e = encoder.edge(batch.extended_type.long()) * encoder.distance(d[pairs.inverse][:, None])  # per edge
    h = encoder.node(graph.atoms)
    for conv, norm in zip(encoder.convs, encoder.norms):
        h = norm(h + torch.relu(conv(h, index, e)))
    pooled = segment_mean(h, graph.batch, graph.num_graphs)[graph.batch]
    mu_edges, log_sigma_edges = encoder.head(torch.cat([h, pooled], 1)).chunk(2, dim=1)
    torch.testing.assert_close(mu, mu_edges, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(log_sigma, log_sigma_edges.clamp(-6, 2), rtol=1e-12, atol=1e-12)


def test_sampling_returns_finite_conformers_in_atom_order():
    model = small_vae()
    mols = [Chem.MolFromSmiles(s) for s in ("OC(=O)c1ccccc1CCO", "CCN")]
    out = model.sample(mols, [3, 2], seed=0)
    assert [m.GetNumConformers() for m in out] == [3, 2]
    for mol, res in zip(mols, out):
        assert [a.GetAtomicNum() for a in res.GetAtoms()] == [a.GetAtomicNum() for a in mol.GetAtoms()]
        assert all(torch.isfinite(torch.tensor(c.GetPositions())).all() for c in res.GetConformers())


def test_metric_matrix_embedding():
    """From all pairwise distances of a conformer it recovers the conformer (up to a rigid motion
    and a reflection); from the extended graph's alone it starts closer than N(0, I); fragments
    without a path between them and one-atom molecules stay finite."""
    from rdkit.Chem import AllChem

    from conformers.models.confvae.distance_geometry import metric_matrix_embedding
    from conformers.models.confvae.model import MIRROR, matching_handedness
    mols = [Chem.AddHs(Chem.MolFromSmiles(s)) for s in ("CC(=O)Nc1ccc(O)cc1", "OCC[C@H](N)C(=O)O")]
    for mol in mols:
        AllChem.EmbedMolecule(mol, randomSeed=7)
    mols = [Chem.RemoveHs(m) for m in mols]
    batch = collate([{**features.featurize(m).arrays(), "index": k, "pos": torch.tensor(m.GetConformer().GetPositions())}
                     for k, m in enumerate(mols)], ("extended",))
    pos, ptr = batch.pos.double(), batch.ptr
    full = torch.cat([torch.cartesian_prod(torch.arange(int(a), int(b)), torch.arange(int(a), int(b))).T
                      for a, b in zip(ptr[:-1], ptr[1:])], 1)
    full = full[:, full[0] != full[1]]
    x = metric_matrix_embedding(full, (pos[full[0]] - pos[full[1]]).norm(dim=1), ptr)
    assert float(ck.rmsd(matching_handedness(x, pos, ptr), pos, ptr=ptr).max()) < 1e-6
    index = batch.extended_index
    x = metric_matrix_embedding(index, (pos[index[0]] - pos[index[1]]).norm(dim=1), ptr)
    random = torch.randn(pos.shape, dtype=pos.dtype, generator=torch.Generator().manual_seed(0))
    assert (ck.rmsd(x, pos, ptr=ptr) < ck.rmsd(random, pos, ptr=ptr)).all()
    mirrored = matching_handedness(x * x.new_tensor(MIRROR), pos, ptr)
    assert (ck.rmsd(mirrored, pos, ptr=ptr) <= ck.rmsd(x * x.new_tensor(MIRROR), pos, ptr=ptr)).all()

    odd = collate([{**features.featurize(Chem.MolFromSmiles(s)).arrays(), "index": k} for k, s in enumerate(("CCO.O", "C"))],
                  ("extended",))
    i, j = odd.extended_index
    x = metric_matrix_embedding(odd.extended_index, torch.full((i.numel(),), 1.5, dtype=torch.float64), odd.ptr)
    assert x.shape == (5, 3) and torch.isfinite(x).all()
    assert float((x[3] - x[:3]).norm(dim=1).min()) > 2.0  # the water kept apart from the ethanol
    with pytest.raises(ValueError, match="finite"):
        metric_matrix_embedding(odd.extended_index, torch.full((i.numel(),), float("nan"), dtype=torch.float64), odd.ptr)


def test_adjoint_gradients_equal_the_direct_ones():
    """The adjoint CNF (constant memory) gives the gradients of backpropagating through the
    solver, to the solver's tolerance (dopri5, float64; the ReLU kinks limit it: 1e-8 gives ~1e-2
    relative, 1e-10 ~1e-3): the likelihood with its trace, and decoding. Counting the embeddings
    behind the condition twice (as parameters and through it) would be off by 50%."""
    batch = molecule_batch("CCOC=O")
    grads = []
    for adjoint in (False, True):
        model = small_vae(adjoint=adjoint).double()
        model.core.solver, model.core.tol, model.core.options = "dopri5", 1e-8, None
        graph = ExtendedPairGraph.of(batch)
        z = torch.randn(batch.atomic_numbers.numel(), 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        z.requires_grad_()
        d = 1.0 + torch.rand(graph.pairs.first.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        noise = torch.randn(d.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
        torch.manual_seed(3)  # the same Hutchinson probe
        loss = model.core.log_likelihood(graph, z, d).sum() + model.core.decode(graph, z, noise).square().sum()
        loss.backward()
        grads.append([z.grad] + [p.grad for p in model.core.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 5
    for direct, adjoint in zip(*grads):
        assert float((adjoint - direct).abs().max() / direct.abs().max()) < 3e-2
