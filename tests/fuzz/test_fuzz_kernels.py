"""Fuzzing the kernel API (issue 20): arbitrary shapes (empty included), dtypes, layouts and values
(NaN, Inf, huge, all-equal), and permutation tables valid or not. Invariant: the op either returns
finite values equal to its pure-PyTorch reference (conformer_kernels.reference, same signature) or
raises ValueError / TypeError naming the problem; never another exception, never a NaN."""
import pytest
import torch
from hypothesis import assume, given, strategies as st

from rdkit import Chem

import conformer_kernels as ck
from conformer_kernels.reference import kabsch as ref_kabsch, symmetric_rmsd as ref_symmetric

from .strategies import METALS, NCI_SMALL, STEREO

DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.bool]
VALUES = ["normal", "nan", "inf", "huge", "zeros", "collinear"]


@st.composite
def coordinates(draw, shape):
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(st.sampled_from(VALUES))
    seed = draw(st.integers(0, 2**16))
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if kind == "nan" and x.numel():
        x.view(-1)[seed % x.numel()] = float("nan")
    elif kind == "inf" and x.numel():
        x.view(-1)[seed % x.numel()] = float("inf")
    elif kind == "huge":
        x = x * 1e19
    elif kind == "zeros":
        x = torch.zeros_like(x)
    elif kind == "collinear" and x.dim() >= 1 and x.shape[-1] == 3:
        x = x[..., :1].expand(x.shape).clone()
    x = x.to(dtype)
    if draw(st.booleans()) and x.dim() >= 2:  # a non-contiguous view with the same values
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    return x


shapes = st.one_of(st.tuples(st.integers(0, 4), st.integers(0, 7), st.just(3)),   # (B, N, 3)
                   st.tuples(st.integers(0, 7), st.just(3)),                       # (N, 3)
                   st.tuples(st.integers(0, 9)),                                    # 1-D
                   st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 4)))  # last dim not 3


def permutations(draw, n):
    kind = draw(st.sampled_from(["identity", "valid", "duplicate", "range", "shape", "float"]))
    if kind == "identity" or n == 0:
        return torch.arange(n)[None]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(draw(st.integers(0, 999))))
    table = torch.stack([torch.arange(n), perm])
    if kind == "duplicate" and n > 1:
        table[1, 0] = table[1, 1]
    elif kind == "range":
        table[1, 0] = n + 3
    elif kind == "shape":
        table = table[:, :-1]
    elif kind == "float":
        table = table.double()
    return table


def kabsch_invariants(outputs, P, Q):
    """What is unique about a superposition: the RMSD reached by applying (R, t), the reported
    RMSD and det R (a degenerate pair, 1-2 atoms or collinear, has many optimal rotations)."""
    R, t, rmsd = outputs
    moved = P.double() @ R.double().transpose(-1, -2) + t.double().unsqueeze(-2)
    reached = (moved - Q.double()).square().sum(-1).mean(-1).sqrt() if P.shape[-2] else rmsd.double()
    return reached, rmsd, torch.linalg.det(R.double())


def agree_or_refuse(op, reference_op, *args, invariants=None, **kwargs):
    """The op's value equals the reference's (or, with invariants(outputs, *args), their
    invariants do), or the op raises a ValueError/TypeError with a message."""
    try:
        got = op(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        assert str(exc), f"{op.__name__} raised {type(exc).__name__} without a message"
        return None
    got = got if isinstance(got, tuple) else (got,)
    for g in got:
        assert torch.isfinite(g).all(), f"{op.__name__} returned non-finite values"
    want = reference_op(*args, **kwargs)
    want = want if isinstance(want, tuple) else (want,)
    if invariants is not None:
        got, want = invariants(got, *args), invariants(want, *args)
    # float32 sums of squares lose ~1e-7 relative: an RMSD near 0 is known to ~sqrt(1e-7) x scale
    scale = 1 + max((a.abs().max().item() for a in args if isinstance(a, torch.Tensor) and a.numel()
                     and a.is_floating_point()), default=0)
    tol = 1e-3 if args[0].dtype == torch.float32 else 1e-6
    for g, w in zip(got, want):
        assert torch.allclose(g.double(), w.double(), atol=tol * scale, rtol=tol), op.__name__
    return got


@given(shapes, st.data())
@pytest.mark.parametrize("name", ["kabsch", "rmsd"])
def test_alignment_ops(name, shape, data):
    P = data.draw(coordinates(shape))
    Q = data.draw(st.one_of(st.just(P.clone()), coordinates(shape)))
    agree_or_refuse(getattr(ck, name), getattr(ref_kabsch, name), P, Q,
                    invariants=kabsch_invariants if name == "kabsch" else None)


@given(shapes, st.data())
@pytest.mark.parametrize("name", ["symmetric_rmsd", "rtp_loss"])
def test_symmetric_ops(name, shape, data):
    P = data.draw(coordinates(shape))
    Q = data.draw(coordinates(shape))
    n = shape[-2] if len(shape) >= 2 else 0
    perms = permutations(data.draw, n)
    agree_or_refuse(getattr(ck, name), getattr(ref_symmetric, name), P, Q, perms)


@given(st.integers(0, 4), st.integers(0, 4), st.integers(0, 7), st.data())
def test_rmsd_matrix(a, b, n, data):
    X = data.draw(coordinates((a, n, 3)))
    Y = data.draw(coordinates((b, data.draw(st.sampled_from([n, n + 1])), 3)))
    assume(X.dtype == Y.dtype or data.draw(st.booleans()))
    perms = permutations(data.draw, n) if data.draw(st.booleans()) else None
    agree_or_refuse(ck.rmsd_matrix, ref_symmetric.rmsd_matrix, X, Y, perms)


@given(st.sampled_from(NCI_SMALL[:200] + METALS + STEREO), st.integers(0, 10**6), st.integers(0, 255),
       st.sampled_from(["flip", "cut", "both"]))
def test_mol_pickle_reader_on_corrupt_bytes(smiles, where, value, how):
    """The C++ reader of RDKit's Mol pickle (what ck.automorphisms reads a Mol from) on a real
    pickle with one byte changed and/or cut short: it refuses with a reason or returns a graph whose
    bonds index its atoms; never a crash, a hang or an out-of-range index."""
    from conformer_kernels import _backend
    from conformer_kernels.ops.automorphisms import _bond_order_labels

    mol = Chem.MolFromSmiles(smiles)
    assume(mol is not None and mol.GetNumAtoms())
    data = bytearray(mol.ToBinary(Chem.PropertyPickleOptions.NoConformers))
    if how in ("flip", "both"):
        data[where % len(data)] = value
    if how in ("cut", "both"):
        data = data[: where % len(data)]
    why, graph = _backend._C().mol_graph_from_pickle(bytes(data), _bond_order_labels(), torch.zeros(0, 2, dtype=torch.int64))
    if graph is None:
        assert isinstance(why, str) and why
        return
    atoms, bonds, labels = graph
    assert why == "" and atoms.numel() >= 1 and bonds.shape == (labels.numel(), 2)
    assert bool((bonds >= 0).all() and (bonds < atoms.numel()).all())
