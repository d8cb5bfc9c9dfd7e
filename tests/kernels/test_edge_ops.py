"""vector_aggregation and segment_softmax_aggregate against their references: values, gradients,
float64 gradcheck, on random graphs and the fully connected graphs of real molecules."""
import pytest
import torch

import conformer_kernels as ck
from conformer_kernels.reference import segment_softmax as ref_softmax
from conformer_kernels.reference import vector_aggregation as ref_aggregation
from conformer_kernels.testing import random_rotations
from conformers.data import Collater, ConformerDataset, MoleculeCache, nci_xtb

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}


def random_graph(n, e, g, shuffle=True):
    index = torch.randint(0, n, (2, e), generator=g)
    if not shuffle:
        index = index[:, torch.argsort(index[0], stable=True)]
    return index


def molecular_graph(count=6):
    """Fully connected heavy-atom graphs of real drug-like molecules, batched as the models see them."""
    cache_dir, _ = nci_xtb("drugs")
    ds = ConformerDataset(MoleculeCache(cache_dir))
    batch = Collater(ds, ("full",))([ds[k] for k in range(count)])
    return batch.pos.double(), batch.full_index


def graphs(device, dtype):
    g = torch.Generator().manual_seed(0)
    x, index = molecular_graph()
    yield "molecules", x.to(device, dtype), index.to(device)
    yield "random", torch.randn(30, 3, generator=g, dtype=torch.float64).to(device, dtype), random_graph(30, 200, g).to(device)
    yield "sorted", torch.randn(5, 3, generator=g, dtype=torch.float64).to(device, dtype), random_graph(5, 12, g, False).to(device)
    yield "no edges", torch.randn(4, 3, generator=g, dtype=torch.float64).to(device, dtype), torch.zeros(2, 0, dtype=torch.int64, device=device)


@pytest.mark.parametrize("normalize", [False, True])
def test_vector_aggregation_matches_reference(device, dtype, normalize):
    for name, x, index in graphs(device, dtype):
        w = torch.randn(index.shape[1], dtype=dtype, device=device)
        xa, wa = x.clone().requires_grad_(), w.clone().requires_grad_()
        xb, wb = x.clone().requires_grad_(), w.clone().requires_grad_()
        out = ck.vector_aggregation(xa, index, wa, normalize=normalize)
        expected = ref_aggregation.vector_aggregation(xb, index, wb, normalize)
        torch.testing.assert_close(out, expected, **TOL[dtype], msg=name)
        grad = torch.randn_like(out)
        out.backward(grad)
        expected.backward(grad)
        torch.testing.assert_close(xa.grad, xb.grad, **TOL[dtype], msg=name)
        torch.testing.assert_close(wa.grad, wb.grad, **TOL[dtype], msg=name)


def test_vector_aggregation_gradcheck_and_coincident_atoms(device):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, dtype=torch.float64, generator=g).to(device).requires_grad_()
    index = random_graph(6, 20, g).to(device)
    index = index[:, index[0] != index[1]]
    w = torch.randn(index.shape[1], dtype=torch.float64, generator=g).to(device).requires_grad_()
    for normalize in (False, True):
        assert torch.autograd.gradcheck(lambda a, b: ck.vector_aggregation(a, index, b, normalize), (x, w))
    same = torch.zeros(2, 3, dtype=torch.float64, device=device, requires_grad=True)
    out = ck.vector_aggregation(same, torch.tensor([[0], [1]], device=device), torch.ones(1, dtype=torch.float64,
                                                                                        device=device), True)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(same.grad).all()


def test_vector_aggregation_is_equivariant(dtype):
    x, index = molecular_graph(3)
    x = x.to(dtype)
    w = torch.randn(index.shape[1], dtype=dtype)
    R = random_rotations(1, dtype=dtype)[0]
    out = ck.vector_aggregation(x, index, w, True)
    moved = ck.vector_aggregation(x @ R.T + 3.0, index, w, True)
    torch.testing.assert_close(moved, out @ R.T, **TOL[dtype])


def test_segment_softmax_matches_reference(device, dtype):
    for name, x, index in graphs(device, dtype):
        n, E = x.shape[0], index.shape[1]
        scores = (5 * torch.randn(E, 4, dtype=dtype, device=device)).requires_grad_()
        values = torch.randn(E, 4, 3, dtype=dtype, device=device).requires_grad_()
        s2, v2 = scores.detach().clone().requires_grad_(), values.detach().clone().requires_grad_()
        out = ck.segment_softmax_aggregate(scores, values, index, n)
        expected = ref_softmax.segment_softmax_aggregate(s2, v2, index, n)
        torch.testing.assert_close(out, expected, **TOL[dtype], msg=name)
        grad = torch.randn_like(out)
        out.backward(grad)
        expected.backward(grad)
        torch.testing.assert_close(scores.grad, s2.grad, **TOL[dtype], msg=name)
        torch.testing.assert_close(values.grad, v2.grad, **TOL[dtype], msg=name)


def test_segment_softmax_gradcheck_stability_and_empty_rows(device):
    g = torch.Generator().manual_seed(2)
    index = random_graph(5, 14, g).to(device)
    scores = torch.randn(14, 2, dtype=torch.float64, generator=g).to(device).requires_grad_()
    values = torch.randn(14, 2, 3, dtype=torch.float64, generator=g).to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda s, v: ck.segment_softmax_aggregate(s, v, index, 5), (scores, values))
    big = torch.tensor([[1000.0], [999.0]], dtype=torch.float32, device=device)  # exp would overflow naively
    out = ck.segment_softmax_aggregate(big, torch.ones(2, 1, 1, device=device), torch.tensor([[0, 0], [1, 2]],
                                                                                                device=device), 3)
    assert torch.allclose(out[0], torch.ones(1, 1, device=device)) and (out[1:] == 0).all()


def test_edge_ops_validate_inputs():
    x = torch.randn(3, 3)
    with pytest.raises(ValueError, match="index must have shape"):
        ck.vector_aggregation(x, torch.zeros(3, 2, dtype=torch.int64), torch.ones(2))
    with pytest.raises(ValueError, match="lie in"):
        ck.vector_aggregation(x, torch.tensor([[0], [5]]), torch.ones(1))
    with pytest.raises(ValueError, match="one scalar per edge"):
        ck.vector_aggregation(x, torch.tensor([[0], [1]]), torch.ones(2))
    with pytest.raises(ValueError, match="values must have shape"):
        ck.segment_softmax_aggregate(torch.ones(2, 1), torch.ones(2, 2, 1), torch.tensor([[0, 1], [1, 0]]), 2)
    meta = torch.tensor([[0, 1], [1, 0]], device="meta")  # an index on another device than x
    for op in (lambda: ck.vector_aggregation(x, meta, torch.ones(2)), lambda: ck.gine_aggregate(x, meta, torch.ones(2, 3)),
               lambda: ck.edge_geometry(x, meta, torch.ones(1), 1.0)):
        with pytest.raises(ValueError, match="index must be on cpu"):
            op()


def test_edge_ops_run_on_the_reference_switch():
    x, index = molecular_graph(2)
    w = torch.randn(index.shape[1], dtype=x.dtype)
    with ck.use_reference():
        a = ck.vector_aggregation(x, index, w)
    torch.testing.assert_close(a, ck.vector_aggregation(x, index, w))


@pytest.mark.parametrize("squared,cutoff", [(False, None), (False, 4.0), (True, 10.0)])
def test_edge_geometry_matches_reference(device, dtype, squared, cutoff):
    from conformer_kernels.reference import edge_geometry as ref_geometry
    centers = torch.linspace(0, 100 if squared else 10, 8, dtype=dtype, device=device)
    width = (centers[1] - centers[0]).item()
    gamma = 1 / (2 * width ** 2)
    for name, x, index in graphs(device, dtype):
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        out = ck.edge_geometry(xa, index, centers, width, cutoff, squared)
        expected = ref_geometry.edge_geometry(xb, index, centers, width, cutoff, squared)
        for a, b in zip(out, expected):
            torch.testing.assert_close(a, b, **TOL[dtype], msg=name)
        grads = [torch.randn_like(t) for t in out]
        torch.autograd.backward(out, grads)
        torch.autograd.backward(expected, grads)
        torch.testing.assert_close(xa.grad, xb.grad, **TOL[dtype], msg=name)


def test_edge_geometry_gradcheck(device):
    g = torch.Generator().manual_seed(3)
    x = (2 * torch.randn(6, 3, dtype=torch.float64, generator=g)).to(device).requires_grad_()
    index = random_graph(6, 20, g).to(device)
    index = index[:, index[0] != index[1]]
    centers = torch.linspace(0, 6, 5, dtype=torch.float64, device=device)
    for squared, cutoff in ((False, 5.0), (True, None)):
        fn = lambda a: ck.edge_geometry(a, index, centers, 1.5, cutoff, squared)
        assert torch.autograd.gradcheck(fn, (x,))


def test_segment_attention_matches_reference(device, dtype):
    for name, x, index in graphs(device, dtype):
        n, E = x.shape[0], index.shape[1]
        g = torch.Generator().manual_seed(5)
        q = torch.randn(n, 4, 3, generator=g, dtype=torch.float64).to(device, dtype).requires_grad_()
        k = torch.randn(E, 4, 3, generator=g, dtype=torch.float64).to(device, dtype).requires_grad_()
        v = torch.randn(E, 4, 2, generator=g, dtype=torch.float64).to(device, dtype).requires_grad_()
        q2, k2, v2 = (t.detach().clone().requires_grad_() for t in (q, k, v))
        out = ck.segment_attention(q, k, v, index)
        expected = ref_softmax.segment_softmax_aggregate((q2[index[0]] * k2).sum(-1) / 3 ** 0.5, v2, index, n)
        torch.testing.assert_close(out, expected, **TOL[dtype], msg=name)
        grad = torch.randn_like(out)
        out.backward(grad)
        expected.backward(grad)
        for a, b in ((q, q2), (k, k2), (v, v2)):
            torch.testing.assert_close(a.grad, b.grad, **TOL[dtype], msg=name)


def test_segment_attention_gradcheck(device):
    g = torch.Generator().manual_seed(6)
    index = random_graph(5, 14, g).to(device)
    q = torch.randn(5, 2, 3, dtype=torch.float64, generator=g).to(device).requires_grad_()
    k = torch.randn(14, 2, 3, dtype=torch.float64, generator=g).to(device).requires_grad_()
    v = torch.randn(14, 2, 2, dtype=torch.float64, generator=g).to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: ck.segment_attention(a, b, c, index, scale=0.7), (q, k, v))


def test_triplet_index_matches_reference():
    from conformer_kernels.reference import triplets as ref_triplets
    g = torch.Generator().manual_seed(7)
    for name, x, index in graphs("cpu", torch.float64):
        n = x.shape[0]
        rot = torch.rand(index.shape[1], generator=g) < 0.2
        for mask in (None, rot):
            ours = ck.triplets(index, n, mask)
            expected = ref_triplets.triplets(index, n, mask)
            assert sorted(map(tuple, ours.t().tolist())) == sorted(map(tuple, expected.t().tolist())), name
            assert ours.shape[1] == 0 or bool((ours[0][1:] >= ours[0][:-1]).all())  # sorted by i


def test_triplet_ops_match_reference(device, dtype):
    from conformer_kernels.reference import triplets as ref_triplets
    for name, x, index in graphs(device, dtype):
        t = ck.triplets(index, x.shape[0])
        T = t.shape[1]
        f, gg = torch.randn(T, dtype=dtype, device=device), torch.randn(T, dtype=dtype, device=device)
        xa, fa, ga = (v.clone().requires_grad_() for v in (x, f, gg))
        xb, fb, gb = (v.clone().requires_grad_() for v in (x, f, gg))
        geo, geo_ref = ck.triplet_geometry(xa, t), ref_triplets.triplet_geometry(xb, t)
        agg, agg_ref = ck.triplet_aggregation(xa, t, fa, ga), ref_triplets.triplet_aggregation(xb, t, fb, gb)
        for a, b in zip(geo + (agg,), geo_ref + (agg_ref,)):
            torch.testing.assert_close(a, b, **TOL[dtype], msg=name)
        grads = [torch.randn_like(v) for v in geo + (agg,)]
        torch.autograd.backward(list(geo) + [agg], grads)
        torch.autograd.backward(list(geo_ref) + [agg_ref], grads)
        for a, b in ((xa, xb), (fa, fb), (ga, gb)):
            torch.testing.assert_close(a.grad, b.grad, **TOL[dtype], msg=name)


def test_triplet_ops_gradcheck(device):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(5, 3, dtype=torch.float64, generator=g).to(device).requires_grad_()
    index = random_graph(5, 12, g).to(device)
    index = index[:, index[0] != index[1]]
    t = ck.triplets(index, 5)
    f = torch.randn(t.shape[1], dtype=torch.float64, generator=g).to(device).requires_grad_()
    h = torch.randn(t.shape[1], dtype=torch.float64, generator=g).to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: ck.triplet_geometry(a, t), (x,))
    assert torch.autograd.gradcheck(lambda a, b, c: ck.triplet_aggregation(a, t, b, c), (x, f, h))


def test_segment_attention_with_keys_shared_by_heads(device, dtype):
    g = torch.Generator().manual_seed(9)
    for name, x, index in graphs(device, dtype):
        n, E = x.shape[0], index.shape[1]
        q = torch.randn(n, 4, 5, generator=g, dtype=torch.float64).to(device, dtype).requires_grad_()
        k = torch.randn(E, 1, 5, generator=g, dtype=torch.float64).to(device, dtype).requires_grad_()
        v = torch.randn(E, 4, 2, generator=g, dtype=torch.float64).to(device, dtype).requires_grad_()
        q2, k2, v2 = (t.detach().clone().requires_grad_() for t in (q, k, v))
        out = ck.segment_attention(q, k, v, index, scale=0.5)
        expected = ref_softmax.segment_softmax_aggregate((q2[index[0]] * k2).sum(-1) * 0.5, v2, index, n)
        torch.testing.assert_close(out, expected, **TOL[dtype], msg=name)
        grad = torch.randn_like(out)
        out.backward(grad)
        expected.backward(grad)
        for a, b in ((q, q2), (k, k2), (v, v2)):
            torch.testing.assert_close(a.grad, b.grad, **TOL[dtype], msg=name)
    index = random_graph(5, 14, g).to(device)
    q = torch.randn(5, 2, 3, dtype=torch.float64, generator=g).to(device).requires_grad_()
    k = torch.randn(14, 1, 3, dtype=torch.float64, generator=g).to(device).requires_grad_()
    v = torch.randn(14, 2, 2, dtype=torch.float64, generator=g).to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: ck.segment_attention(a, b, c, index), (q, k, v))


def test_edge_ops_take_an_edge_csr(device):
    """Every edge op accepts an EdgeCSR (built once, for loops) and gives what the (2, E) tensor
    gives, values and gradients, with edges in any order; triplets' edge ids refer to the given order."""
    g = torch.Generator().manual_seed(7)
    index = random_graph(12, 60, g).to(device)
    csr = ck.edge_csr(index, 12)
    assert csr.order is not None  # shuffled: the CSR reorders, the ops must restore the caller's order
    x = torch.randn(12, 3, generator=g, dtype=torch.float64).to(device).requires_grad_()
    centers, width = ck.gaussian_centers(0.0, 5.0, 8, dtype=torch.float64, device=device)
    scores = torch.randn(60, 2, generator=g, dtype=torch.float64).to(device).requires_grad_()
    values = torch.randn(60, 2, 3, generator=g, dtype=torch.float64).to(device).requires_grad_()
    query = torch.randn(12, 2, 4, generator=g, dtype=torch.float64).to(device).requires_grad_()
    key = torch.randn(60, 2, 4, generator=g, dtype=torch.float64).to(device).requires_grad_()
    ops = {
        "edge_geometry": lambda idx: torch.cat([t.reshape(60, -1) for t in ck.edge_geometry(x, idx, centers, width)], 1),
        "vector_aggregation": lambda idx: ck.vector_aggregation(x, idx, scores[:, 0], normalize=True),
        "segment_softmax_aggregate": lambda idx: ck.segment_softmax_aggregate(scores, values, idx, 12),
        "segment_attention": lambda idx: ck.segment_attention(query, key, values, idx),
    }
    for name, op in ops.items():
        out_index, out_csr = op(index), op(csr)
        torch.testing.assert_close(out_csr, out_index, rtol=1e-12, atol=1e-12, msg=name)
        weights = torch.randn(out_index.shape, generator=g, dtype=torch.float64).to(device)
        leaves = [t for t in (x, scores, values, query, key)]
        grads = [torch.autograd.grad((out * weights).sum(), leaves, allow_unused=True) for out in (out_index, out_csr)]
        for a, b in zip(*grads):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12, msg=name)
    rotatable = torch.rand(60, generator=g).to(device) < 0.5
    for given, built in zip(ck.triplets(index, 12, rotatable, return_edges=True),
                            ck.triplets(csr, 12, rotatable, return_edges=True)):
        torch.testing.assert_close(built, given)
