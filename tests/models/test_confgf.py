"""ConfGF: the coordinate score is rotation-equivariant and translation-invariant, the fused chain
rule equals autograd through the distances, DSM loss falls on real molecules, our batched Langevin
sampler follows the released per-molecule algorithm step for step, sampling returns finite
conformers in the molecule's atom order."""
import pytest
import numpy as np
import torch
from rdkit import Chem

import conformer_kernels as ck
from conformer_kernels.testing import random_rotations
from conformers.data import Collater, ConformerDataset, MoleculeCache, features, load_split, nci_xtb
from conformers.data.batch import collate
from conformers.models import create_model
from conformers.models.confgf.model import symmetric_noise
from conformers.models.confgf.sampler import LangevinSampler, plain_langevin


def small(**kw):
    torch.manual_seed(0)
    return create_model("confgf", hidden=32, convs=2, **kw)


def copies(smiles, count):
    arrays = features.featurize(Chem.MolFromSmiles(smiles)).arrays()
    return collate([{**arrays, "index": 0}] * count, ("extended",))


def coordinate_score(model, batch, x, level=10):
    constants = model.graph_constants(batch.atomic_numbers, batch.extended_type)
    i, j = batch.extended_index
    d = (x[i] - x[j]).norm(dim=1)
    s = model.edge_scores(constants, batch.extended_index, d, 1.0 / model.sigmas[level])
    return ck.vector_aggregation(x, batch.extended_index, s, normalize=True)


def test_score_is_rotation_equivariant_and_translation_invariant():
    model = small().double().eval()
    batch = copies("CC(=O)Nc1ccc(O)cc1", 1)
    x = torch.randn(batch.atomic_numbers.numel(), 3, dtype=torch.float64) * 2
    R = random_rotations(1)[0]
    with torch.no_grad():
        base = coordinate_score(model, batch, x)
        moved = coordinate_score(model, batch, x @ R.T + torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(moved, base @ R.T, rtol=1e-9, atol=1e-9)


def test_fused_chain_rule_equals_autograd_through_distances():
    """sum_j s_ij (x_i - x_j) / d_ij is the gradient of 1/2 sum over directed edges s_e d_e when
    s is symmetric (one value per pair), as the score of an energy of the distances is."""
    batch = copies("OC(=O)c1ccccc1CCO", 2)
    index, n = batch.extended_index, batch.atomic_numbers.numel()
    g = torch.Generator().manual_seed(1)
    pair = torch.randn(n * n, dtype=torch.float64, generator=g)
    s = pair[torch.minimum(index[0], index[1]) * n + torch.maximum(index[0], index[1])]
    x = torch.randn(n, 3, dtype=torch.float64, generator=g).requires_grad_()
    (0.5 * s * (x[index[0]] - x[index[1]]).norm(dim=1)).sum().backward()
    torch.testing.assert_close(ck.vector_aggregation(x.detach(), index, s, normalize=True), x.grad,
                               rtol=1e-10, atol=1e-10)


def test_noise_is_shared_by_both_directions_of_a_pair():
    batch = copies("CCCO", 1)
    index = batch.extended_index
    noise = symmetric_noise(index, batch.atomic_numbers.numel(), torch.Generator().manual_seed(0))
    by_pair = {}
    for (a, b), v in zip(index.t().tolist(), noise.tolist()):
        key = (min(a, b), max(a, b))
        assert by_pair.setdefault(key, v) == v
    assert len(set(by_pair.values())) == len(by_pair)


def test_dsm_loss_falls_on_real_molecules():
    cache_dir, split_file = nci_xtb("qm9")
    ds = ConformerDataset.from_split(MoleculeCache(cache_dir), load_split(split_file), "train")
    batch = Collater(ds, ("extended",))([ds[k] for k in range(0, 96, 3)])
    model = small()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for step in range(30):
        torch.manual_seed(step % 3)  # the same three noise draws, cycled
        loss = model(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all() and np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])


def test_batched_sampler_follows_the_released_algorithm():
    """Same noise stream (copies of one molecule are one group in the released loop): ours and the
    plain per-molecule sampler walk the same trajectory, in float64 up to summation order."""
    model = small(levels=4).double()
    batch = copies("CCOc1ccccc1", 3)
    ours = LangevinSampler(model, batch, steps_per_level=3, precision="full").run(torch.Generator().manual_seed(5))
    plain = plain_langevin(model, batch, 3, torch.Generator().manual_seed(5))
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, plain, rtol=1e-8, atol=1e-8)


def test_sampling_returns_finite_conformers_in_atom_order():
    model = small(levels=5, steps_per_level=2)
    mols = [Chem.MolFromSmiles(s) for s in ("OC(=O)c1ccccc1CCO", "CCN")] + [Chem.AddHs(Chem.MolFromSmiles("CC=O"))]
    out = model.sample(mols, [3, 2, 2], seed=0)
    assert [m.GetNumConformers() for m in out] == [3, 2, 2]
    for mol, res in zip(mols, out):
        heavy = Chem.RemoveHs(mol)
        assert [a.GetAtomicNum() for a in res.GetAtoms()] == [a.GetAtomicNum() for a in heavy.GetAtoms()]
        assert all(np.isfinite(c.GetPositions()).all() for c in res.GetConformers())
    again = model.sample(mols, [3, 2, 2], seed=0)
    np.testing.assert_allclose(again[0].GetConformer(1).GetPositions(), out[0].GetConformer(1).GetPositions())


def test_tabulated_edge_features_equal_the_network():
    """The sampler's exact piecewise-linear tables give the network's edge features and output
    layer, at random distances and exactly at the kinks."""
    from conformers.models.confgf.tabulated import EdgeFeatureTables

    model = small().double()
    types = torch.tensor([1, 2, 5, 6, 1, 2])
    tables = EdgeFeatureTables(model, types)
    d = torch.cat([torch.rand(200, dtype=torch.float64) * 12, tables.kinks[(tables.kinks > 0) & (tables.kinks < 12)]])
    t = types[torch.randint(len(types), (d.numel(),))]
    compact = torch.searchsorted(torch.unique(types), t)
    features_, output = tables(d, compact)
    expected = model.distance_mlp(d[:, None]) * model.edge_embedding(t)
    torch.testing.assert_close(features_, expected, rtol=1e-10, atol=1e-10)
    edge_half = model.output_mlp[0].weight[:, 32:]
    torch.testing.assert_close(output, expected @ edge_half.T, rtol=1e-10, atol=1e-10)
    _, with_bias = EdgeFeatureTables(model, types, output_bias=True)(d, compact)
    torch.testing.assert_close(with_bias, output + model.output_mlp[0].bias, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("precision", ["full", "bfloat16"])
def test_frozen_network_equals_the_model(precision):
    """The sampler's network (tables, fused GIN sums, pair-shared work) computes edge_scores; with
    bfloat16 GEMMs within the format's rounding (8-bit mantissa)."""
    from conformers.models.common import PairGraph
    from conformers.models.confgf.tabulated import FrozenScoreNetwork

    model = small().double().eval()
    batch = copies("CC(=O)Oc1ccccc1C(=O)O", 2)
    index, n = batch.extended_index, batch.atomic_numbers.numel()
    graph = PairGraph.build(index, n)
    d = (torch.randn(n, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2).index_select(0, index[0])
    d = (d - d.roll(1, 0)).norm(dim=1).index_select(0, graph.first).index_select(0, graph.inverse)  # symmetric
    with torch.no_grad():
        constants = model.graph_constants(batch.atomic_numbers, batch.extended_type)
        expected = model.edge_scores(constants, index, d, 1 / 0.3)
        network = FrozenScoreNetwork(model, batch.extended_type, precision)
        pair_types = network.tables.compact.index_select(0, graph.first)
        got = network(constants[0], graph, d.index_select(0, graph.first), 1 / 0.3, pair_types)
    if precision == "full":
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    else:
        assert got.dtype == torch.float64
        assert float((got - expected).norm() / expected.norm()) < 0.03
    with pytest.raises(ValueError, match="precision"):
        FrozenScoreNetwork(model, batch.extended_type, "float16")


def test_generate_mirrors_inverted_samples_of_a_distance_model_by_default():
    """ConfGF sees distances only, so a sample and its mirror image are equally its own: with the
    default --stereo auto, every sample of a one-centre molecule whose centre came out inverted is
    mirrored (fidelity 1), and nothing is dropped; with keep, the inverted ones stay and are counted."""
    from conformers.generation import generate, read_inputs
    from conformers.metrics.stereo import stereo_matches

    model = small(levels=5, steps_per_level=4)
    inputs = read_inputs(["C[C@H](N)C(=O)O"])
    kept, = generate(inputs, model, 16, seed=0, stereo="keep")
    auto, = generate(inputs, model, 16, seed=0)
    heavy = lambda r: np.stack([c.GetPositions()[:6] for c in r.mol.GetConformers()])
    assert kept.stereo_wrong > 0 and kept.mol.GetNumConformers() == 16  # untrained: about half inverted
    assert auto.stereo_fixed == auto.stereo_wrong == kept.stereo_wrong and auto.mol.GetNumConformers() == 16
    assert stereo_matches(inputs[0].mol, heavy(auto)).all()
