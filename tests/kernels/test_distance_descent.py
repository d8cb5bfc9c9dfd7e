"""distance_descent against its reference (the unrolled loop in plain PyTorch ops under autograd):
positions after T steps, and the hypergradients to d and x0 through all T steps, also against
finite differences on a small molecule."""
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

import conformer_kernels as ck
from conformer_kernels.reference import distance_descent as reference

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}


def molecule(device, dtype, smiles="CC(=O)Oc1ccccc1C(=O)O", shuffle=True, seed=0):
    """Aspirin's extended graph (pairs within 3 bonds, both directions), target distances from an
    ETKDG conformer, a random start."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    hops = torch.as_tensor(Chem.GetDistanceMatrix(mol))
    index = torch.nonzero((hops > 0) & (hops <= 3)).T.contiguous()
    if shuffle:
        index = index[:, torch.randperm(index.shape[1], generator=torch.Generator().manual_seed(seed))]
    pos = torch.as_tensor(mol.GetConformer().GetPositions())
    d = (pos[index[0]] - pos[index[1]]).norm(dim=1)
    x0 = pos + 0.3 * torch.randn(pos.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x0.to(device, dtype), index.to(device), d.to(device, dtype)


@pytest.mark.parametrize("shuffle", [True, False])
def test_matches_reference(device, dtype, shuffle):
    x0, index, d = molecule(device, dtype, shuffle=shuffle)
    leaves = [t.clone().requires_grad_() for t in (x0, d)]
    twins = [t.clone().requires_grad_() for t in (x0, d)]
    out = ck.distance_descent(leaves[0], index, leaves[1], 30, 0.02)
    expected = reference.distance_descent(twins[0], index, twins[1], 30, 0.02)
    torch.testing.assert_close(out, expected, **TOL[dtype])
    target = torch.randn_like(out)
    (out * target).sum().backward()
    (expected * target).sum().backward()
    for a, b in zip(leaves, twins):
        torch.testing.assert_close(a.grad, b.grad, **TOL[dtype])


def test_descent_lowers_the_energy(device):
    x0, index, d = molecule(device, torch.float64)
    energy = lambda x: 0.5 * ((x[index[0]] - x[index[1]]).norm(dim=1) - d).square().sum()
    x = ck.distance_descent(x0, index, d, 100, 0.02)
    assert float(energy(x)) < 0.05 * float(energy(x0))


def test_hypergradient_matches_finite_differences(device):
    """The hypergradient of a loss on x_T through T = 20 unrolled steps, to d and x0, in float64."""
    x0, index, d = molecule(device, torch.float64, smiles="OCC=O")
    assert torch.autograd.gradcheck(lambda x, dd: ck.distance_descent(x, index, dd, 20, 0.05),
                                    (x0.clone().requires_grad_(), d.clone().requires_grad_()))


def test_edge_cases_and_bad_input(device):
    x0, index, d = molecule(device, torch.float32)
    torch.testing.assert_close(ck.distance_descent(x0, index, d, 0, 0.1), x0)
    x = x0.clone()
    x[1] = x[0]  # coincident atoms: no force between them, no NaN
    out = ck.distance_descent(x.requires_grad_(), index, d.clone().requires_grad_(), 5, 0.02)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    empty = ck.distance_descent(x0, index[:, :0], d[:0], 3, 0.1)
    torch.testing.assert_close(empty, x0)
    with pytest.raises(ValueError, match="one distance per edge"):
        ck.distance_descent(x0, index, d[:-1], 3, 0.1)
    with pytest.raises(ValueError, match="steps"):
        ck.distance_descent(x0, index, d, -1, 0.1)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        ck.distance_descent(x0[:, :2], index, d, 3, 0.1)
    with pytest.raises(ValueError, match="lie in"):
        ck.distance_descent(x0, index + x0.shape[0], d, 3, 0.1)
    with ck.use_reference():
        torch.testing.assert_close(ck.distance_descent(x0, index, d, 3, 0.1), reference.distance_descent(x0, index, d, 3, 0.1))
