"""Bad input gets a ValueError naming the argument, never a crash or a silent wrong number."""
import pytest
import torch

import conformer_kernels as ck

X = torch.randn(2, 5, 3, dtype=torch.float64)
PERMS = torch.arange(5)[None]


def _nan(x, where=(0, 1, 2)):
    y = x.clone()
    y[where] = float("nan")
    return y


@pytest.mark.parametrize("call, message", [
    (lambda: ck.kabsch(_nan(X), X), "P contains NaN"),
    (lambda: ck.rmsd(X, _nan(X, (1, 4, 0))), "Q contains NaN"),
    (lambda: ck.rmsd(X, X.clone().index_fill_(1, torch.tensor([2]), float("inf"))), "Q contains NaN or Inf"),
    (lambda: ck.rmsd(X, X[:, :4]), "same shape"),
    (lambda: ck.rmsd(X, X.float()), "same dtype"),
    (lambda: ck.rmsd(X.int(), X.int()), "float32 or float64"),
    (lambda: ck.rmsd(X[..., :2], X[..., :2]), r"shape \(B, N, 3\)"),
    (lambda: ck.rmsd(X, X, weights=torch.ones(4, dtype=torch.float64)), "weights must have shape"),
    (lambda: ck.rmsd(X, X, weights=-torch.ones(5, dtype=torch.float64)), "non-negative"),
    (lambda: ck.rmsd(X.reshape(-1, 3), X.reshape(-1, 3), ptr=torch.tensor([0, 3, 9])), "end at the number of atoms"),
    (lambda: ck.rmsd(X.reshape(-1, 3), X.reshape(-1, 3), ptr=torch.tensor([0, 7, 3, 10])), "never decrease"),
    (lambda: ck.symmetric_rmsd(X, X, torch.tensor([[0, 1, 2, 3, 3]])), "permutation of 0..4"),
    (lambda: ck.rmsd_matrix(X, X, torch.tensor([[0, 1, 2, 3, 4], [0, 1, 2, 3, 5]])), "permutation of 0..4"),
    (lambda: ck.rmsd_matrix(X, X, torch.tensor([[0, 1, 2, 3, -1]])), "permutation of 0..4"),
    (lambda: ck.symmetric_rmsd(X, X, torch.zeros(1, 4, dtype=torch.int64)), r"shape \(P, 5\)"),
    (lambda: ck.symmetric_rmsd(_nan(X), X, PERMS), "P contains NaN"),
    (lambda: ck.rtp_loss(X, _nan(X), PERMS), "ref contains NaN"),
    (lambda: ck.rtp_loss(X, X, PERMS, reduction="avg"), "reduction"),
    (lambda: ck.rmsd_matrix(X, torch.randn(3, 6, 3, dtype=torch.float64)), "same number of atoms"),
    (lambda: ck.rmsd_matrix(_nan(X), X), "X contains NaN"),
    (lambda: ck.automorphisms(ck), "RDKit Mol"),
    (lambda: ck.symmetric_rmsd(X.reshape(-1), X.reshape(-1), PERMS), r"shape \(B, N, 3\) or \(N, 3\), got \(30,\)"),
    (lambda: ck.rmsd_matrix(X.float() * 1e19, X.float()), "coordinates too large"),  # finite, squares overflow float32
    (lambda: ck.rmsd(X.float() * 1e19, X.float()), "coordinates too large"),
    (lambda: ck.symmetric_rmsd(X.to("meta"), X.to("meta"), PERMS), "P is on the meta device"),
    (lambda: ck.rmsd_matrix(X.to("meta"), X.to("meta")), "X is on the meta device"),
    (lambda: ck.edge_geometry(X[0], torch.tensor([[0, 1], [1, 0]], device="meta"), torch.zeros(1, dtype=X.dtype), 1.0),
     "index must be on cpu"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_ops_take_an_edge_csr_under_bfloat16_autocast():
    """Mixed-precision models pass a prebuilt EdgeCSR (ConfGF's and ConfVAE's pair graphs): under
    autocast the kernels cast the float inputs to float32 and leave the CSR layouts as they are."""
    g = torch.Generator().manual_seed(0)
    index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    csr = ck.edge_csr(index, 4)
    h, e, x = torch.randn(4, 8, generator=g), torch.randn(6, 8, generator=g), torch.randn(4, 3, generator=g)
    expected = (ck.gine_aggregate(h, csr, e), ck.vector_aggregation(x, csr, e[:, 0]))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = (ck.gine_aggregate(h.bfloat16(), csr, e.bfloat16()), ck.vector_aggregation(x, csr, e[:, 0].bfloat16()))
    for a, b in zip(got, expected):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-2)
