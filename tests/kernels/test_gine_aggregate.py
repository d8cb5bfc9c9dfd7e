"""gine_aggregate against its reference (gather, add, ReLU, index_add as plain ops), with edges in
any order, with shared edge-feature rows, and in a GIN layer on a real molecule's graph."""
import pytest
import torch

import conformer_kernels as ck
from conformer_kernels.reference import gine_aggregate as reference

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def inputs(device, dtype, N=30, E=200, C=40, R=None, seed=0, shuffled=True):
    g = torch.Generator().manual_seed(seed)
    index = torch.randint(0, N, (2, E), generator=g)
    index[:, :1] = N - 1  # a self-loop, and an atom without edges
    index[index == 3] = 4
    if not shuffled:
        index = index[:, torch.argsort(index[0], stable=True)]
    h = torch.randn(N, C, generator=g, dtype=torch.float64)
    attr = torch.randn(E if R is None else R, C, generator=g, dtype=torch.float64)
    attr_index = None if R is None else torch.randint(0, R, (E,), generator=g).to(device)
    to = lambda t: t.to(device, dtype).requires_grad_()
    return to(h), index.to(device), to(attr), attr_index


def twin(t):
    return t.detach().clone().requires_grad_()


@pytest.mark.parametrize("shared_rows", [None, 7])
@pytest.mark.parametrize("shuffled", [True, False])
def test_matches_reference(device, dtype, shared_rows, shuffled):
    h, index, attr, attr_index = inputs(device, dtype, R=shared_rows, shuffled=shuffled)
    h2, attr2 = twin(h), twin(attr)
    out = ck.gine_aggregate(h, index, attr, attr_index, eps=0.25)
    expected = reference.gine_aggregate(h2, index, attr2, attr_index, eps=0.25)
    torch.testing.assert_close(out, expected, **TOL[dtype])
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(h.grad, h2.grad, **TOL[dtype])
    torch.testing.assert_close(attr.grad, attr2.grad, **TOL[dtype])
    assert torch.all(out[3] == (1.25 * h[3]))  # no incoming edges: the node's own term alone


def test_reused_csr_and_gradcheck(device):
    h, index, attr, attr_index = inputs(device, torch.float64, N=6, E=14, C=3, R=4, seed=1)
    csr = ck.edge_csr(index, 6)
    torch.testing.assert_close(ck.gine_aggregate(h, csr, attr, attr_index), ck.gine_aggregate(h, index, attr, attr_index))
    fn = lambda a, b: ck.gine_aggregate(a, csr, b, attr_index, eps=0.1)
    assert torch.autograd.gradcheck(fn, (h, attr))
    assert torch.autograd.gradgradcheck(fn, (h, attr))  # CNF traces differentiate a vector-Jacobian product
    fn = lambda a, b: ck.gine_aggregate(a, csr, b)  # one attr row per edge
    assert torch.autograd.gradgradcheck(fn, (h, torch.randn(csr.src.numel(), 3, dtype=torch.float64,
                                                              device=h.device, requires_grad=True)))


def test_reused_csr_with_other_row_maps(device):
    """An EdgeCSR keeps what the backward derives from it (groupings by source and by attr row),
    keyed by the row map it was built for: another map on the same graph gets its own."""
    h, index, attr, attr_index = inputs(device, torch.float64, R=7, seed=2)
    csr = ck.edge_csr(index, h.shape[0])
    other = torch.randint(0, 7, attr_index.shape, generator=torch.Generator().manual_seed(5)).to(device)
    for rows in (attr_index, other, attr_index):
        h1, a1, h2, a2 = twin(h), twin(attr), twin(h), twin(attr)
        grad = torch.randn(h.shape, dtype=h.dtype, device=device)
        ck.gine_aggregate(h1, csr, a1, rows).backward(grad)
        reference.gine_aggregate(h2, index, a2, rows).backward(grad)
        torch.testing.assert_close((h1.grad, a1.grad), (h2.grad, a2.grad), **TOL[torch.float64])


def test_gin_layer_on_a_molecule(device):
    """The use it is made for (ConfGF's GIN): a GINE layer on aspirin's bond graph, both directions
    of a bond reading one feature row, equals PyG's formula written out per edge."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    bonds = torch.tensor([[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] for b in mol.GetBonds()]).T
    index = torch.cat([bonds, bonds.flip(0)], 1).to(device)
    bond_row = torch.arange(bonds.shape[1]).repeat(2).to(device)
    g = torch.Generator().manual_seed(3)
    h = torch.randn(mol.GetNumAtoms(), 16, generator=g, dtype=torch.float64).to(device)
    bond_features = torch.randn(bonds.shape[1], 16, generator=g, dtype=torch.float64).to(device)
    expected = h.clone()
    for e in range(index.shape[1]):
        i, j = index[:, e].tolist()
        expected[i] += torch.relu(h[j] + bond_features[bond_row[e]])
    torch.testing.assert_close(ck.gine_aggregate(h, index, bond_features, bond_row), expected, rtol=1e-12, atol=1e-12)


def test_empty_and_bad_input(device):
    h, index, attr, _ = inputs(device, torch.float32, E=0)
    out = ck.gine_aggregate(h, index, attr)
    torch.testing.assert_close(out, h)
    out.sum().backward()
    assert torch.all(h.grad == 1)
    h, index, attr, attr_index = inputs(device, torch.float32, R=5)
    with pytest.raises(ValueError, match="one row per edge"):
        ck.gine_aggregate(h, index, attr)
    with pytest.raises(ValueError, match="edge_attr_index must lie in"):
        ck.gine_aggregate(h, index, attr, attr_index + 5)
    with pytest.raises(ValueError, match="shape"):
        ck.gine_aggregate(h, index, attr[:, :3], attr_index)
    with pytest.raises(ValueError, match="dtype"):
        ck.gine_aggregate(h, index, attr.double(), attr_index)
    with pytest.raises(ValueError, match="lie in"):
        ck.gine_aggregate(h, index + h.shape[0], attr, attr_index)
    with pytest.raises(ValueError, match="nodes"):
        ck.gine_aggregate(h[:-1], ck.edge_csr(index, h.shape[0]), attr, attr_index)
    with pytest.raises(ValueError, match="int64"):
        ck.gine_aggregate(h, index.int(), attr, attr_index)
    with ck.use_reference():
        torch.testing.assert_close(ck.gine_aggregate(h, index, attr, attr_index),
                                   reference.gine_aggregate(h, index, attr, attr_index))


@pytest.mark.parametrize("shared_rows", [None, 7])
def test_second_order_matches_reference(device, dtype, shared_rows):
    """What a CNF's trace needs: a vector-Jacobian product built with create_graph, then
    differentiated to h, edge_attr and the probe, by the kernels (the tangent) and by the
    reference's autograd."""
    results = []
    for op in (ck.gine_aggregate, reference.gine_aggregate):
        h, index, attr, attr_index = inputs(device, dtype, R=shared_rows, seed=3)
        probe = torch.randn(h.shape, dtype=dtype, generator=torch.Generator().manual_seed(0)).to(device)
        probe.requires_grad_()
        out = op(h, index, attr, attr_index, eps=0.25)
        vjp_h, vjp_attr = torch.autograd.grad(out, (h, attr), probe, create_graph=True)
        weights = torch.randn(vjp_h.shape, dtype=dtype, generator=torch.Generator().manual_seed(1)).to(device)
        loss = (vjp_h * weights).sum() + vjp_attr.square().sum() + (out * vjp_h).sum()
        results.append(torch.autograd.grad(loss, (h, attr, probe)))
    for ours, expected in zip(*results):
        torch.testing.assert_close(ours, expected, **TOL[dtype])
