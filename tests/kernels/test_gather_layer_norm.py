"""gather_layer_norm against its reference (gather, weighted sum, LayerNorm, ReLU as plain ops) and
against the Linear + LayerNorm + ReLU of concatenated edge inputs that it replaces in ConfOpt."""
import pytest
import torch

import conformer_kernels as ck
from conformer_kernels.reference import gather_layer_norm as reference

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}


def inputs(device, dtype, R=40, M=300, B=6, C=48, seed=0, weighted=True):
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(R, C, generator=g, dtype=torch.float64)
    index = torch.randint(0, R, (M, B), generator=g)
    index[:, -1] = R - 1  # one row read by every m, as a bias row is
    weight = torch.randn(M, B, generator=g, dtype=torch.float64) if weighted else None
    gamma, beta = 1 + 0.3 * torch.randn(C, generator=g, dtype=torch.float64), 0.2 * torch.randn(C, generator=g, dtype=torch.float64)
    to = lambda t: None if t is None else t.to(device, dtype).requires_grad_()
    return to(table), index.to(device), to(weight), to(gamma), to(beta)


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_matches_reference(device, dtype, relu, weighted):
    args = inputs(device, dtype, weighted=weighted)
    twins = tuple(t if t is None or not t.requires_grad else t.detach().clone().requires_grad_() for t in args)
    out = ck.gather_layer_norm(*args, relu=relu)
    expected = reference.gather_layer_norm(*twins, relu=relu)
    torch.testing.assert_close(out, expected, **TOL[dtype])
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    for a, b in zip(args, twins):
        if a is not None and a.requires_grad:
            torch.testing.assert_close(a.grad, b.grad, **TOL[dtype])


def test_gradcheck(device):
    for relu in (True, False):
        table, index, weight, gamma, beta = inputs(device, torch.float64, R=7, M=9, B=3, C=5, seed=1)
        fn = lambda t, w, g, b: ck.gather_layer_norm(t, index, w, g, b, relu=relu)
        assert torch.autograd.gradcheck(fn, (table, weight, gamma, beta))


def test_equals_linear_layer_norm_relu_of_concatenated_inputs(device):
    """The use it is made for: a Linear of [h_j, e_ij, rbf_ij] split by input equals the concatenation."""
    g = torch.Generator().manual_seed(2)
    N, P, K, E, C = 9, 5, 4, 30, 16
    h, pair, rbf = torch.randn(N, 8, generator=g), torch.randn(P, 6, generator=g), torch.rand(E, K, generator=g)
    src, pair_index = torch.randint(0, N, (E,), generator=g), torch.randint(0, P, (E,), generator=g)
    linear, norm = torch.nn.Linear(8 + 6 + K, C).double(), torch.nn.LayerNorm(C).double()
    h, pair, rbf = h.double(), pair.double(), rbf.double()
    expected = torch.relu(norm(linear(torch.cat([h[src], pair[pair_index], rbf], 1))))
    W = linear.weight
    table = torch.cat([h @ W[:, :8].T, pair @ W[:, 8:14].T, W[:, 14:].T, linear.bias[None]])
    index = torch.stack([src, N + pair_index, *(N + P + k + torch.zeros_like(src) for k in range(K)),
                         torch.full_like(src, N + P + K)], 1)
    weight = torch.cat([torch.ones(E, 2, dtype=torch.float64), rbf, torch.ones(E, 1, dtype=torch.float64)], 1)
    out = ck.gather_layer_norm(table.to(device), index.to(device), weight.to(device), norm.weight.to(device),
                               norm.bias.to(device))
    torch.testing.assert_close(out.cpu(), expected, rtol=1e-10, atol=1e-10)


def test_empty_rows_and_bad_input(device):
    table, index, weight, gamma, beta = inputs(device, torch.float32, M=0)
    out = ck.gather_layer_norm(table, index, weight, gamma, beta)
    assert out.shape == (0, table.shape[1])
    out.sum().backward()
    assert torch.count_nonzero(table.grad) == 0
    table, index, weight, gamma, beta = inputs(device, torch.float32)
    with pytest.raises(ValueError, match="index must lie in"):
        ck.gather_layer_norm(table, index + table.shape[0], weight, gamma, beta)
    with pytest.raises(ValueError, match="weight must be"):
        ck.gather_layer_norm(table, index, weight[:, :2], gamma, beta)
    with pytest.raises(ValueError, match="gamma must be"):
        ck.gather_layer_norm(table, index, weight, gamma[:3], beta)
    with pytest.raises(ValueError, match="int64"):
        ck.gather_layer_norm(table, index.int(), weight, gamma, beta)
    with ck.use_reference():
        torch.testing.assert_close(ck.gather_layer_norm(table, index, weight, gamma, beta),
                                   reference.gather_layer_norm(table, index, weight, gamma, beta))
