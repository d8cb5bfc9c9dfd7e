"""Symmetric rmsd_matrix on the GEOM-Drugs COV/MAT workload, 144 generated x 72 reference ETKDG
conformers of one molecule, automorphism enumeration included, against the RDKit GetBestRMS loop of
the reference repositories and RDKit's batched GetAllConformerBestRMSToRef, on imatinib (the
molecule the kernel was first tuned on) and four drug-like molecules of data/nci-xtb it was not
tuned on, with 1, 2, 8 and 16 heavy-atom automorphisms.

The limit table (test_limits): the FLOPs of each workload, split into the GEMM-shaped part (the
identity correlations, 18 N per pair, and each permutation's correction, 18 per moved atom) and the
per-pair solve (QCP coefficients and Newton, counted per permutation at the mean iterations of
the identity's solves), over this CPU's float64 GEMM rate measured in the same run (torch.matmul, 2048^3): the time a
perfectly GEMM-efficient kernel would take, and our fraction of it.
"""
import functools

import pytest
import torch
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, rdMolAlign

import conformer_kernels as ck

from .conftest import MEDIANS, ratio

RDLogger.DisableLog("rdApp.*")
N_GEN, N_REF = 144, 72
MOLECULES = {  # name: (SMILES, heavy-atom automorphisms)
    "imatinib": ("Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1", 4),
    "NCI127": ("CC(=O)N1c2ccccc2Sc2ccc(C(=O)CCl)cc21", 1),
    "NCI2574": ("CC(=O)O[C@@H]1[C@@H](OCc2ccccc2)OC[C@H](OC(C)=O)[C@H]1OC(C)=O", 2),
    "NCI315": ("CC(=O)N(c1ccccc1)[C@H](C(=O)c1ccccc1)c1ccccc1", 8),
    "NCI2991": ("OC(CN1CCCCC1)(c1ccccc1)c1ccccc1", 16),
}
# Per (pair, permutation) solve FLOPs: QCP coefficients (~95) and per Newton iteration (~16).
COEFFICIENT_FLOPS, NEWTON_FLOPS = 95, 16


@functools.lru_cache(maxsize=None)
def workload(name):
    mh = Chem.AddHs(Chem.MolFromSmiles(MOLECULES[name][0]))
    params = AllChem.ETKDGv3()
    params.randomSeed = 11
    params.numThreads = 0
    ids = list(AllChem.EmbedMultipleConfs(mh, N_GEN + N_REF, params))
    assert len(ids) == N_GEN + N_REF
    heavy = Chem.RemoveHs(mh)
    gen, ref = Chem.Mol(heavy), Chem.Mol(heavy)
    gen.RemoveAllConformers(); ref.RemoveAllConformers()
    for k, conf in enumerate(heavy.GetConformers()):
        (gen if k < N_GEN else ref).AddConformer(Chem.Conformer(conf), assignId=True)
    X = torch.stack([torch.tensor(c.GetPositions()) for c in gen.GetConformers()])
    Y = torch.stack([torch.tensor(c.GetPositions()) for c in ref.GetConformers()])
    return gen, ref, X, Y


def ours(gen, X, Y):
    return ck.rmsd_matrix(X, Y, ck.automorphisms(gen))  # symmetry enumeration included


def rdkit_loop(gen, ref):
    return [[rdMolAlign.GetBestRMS(gen, ref, prbId=g.GetId(), refId=r.GetId()) for r in ref.GetConformers()]
            for g in gen.GetConformers()]


@pytest.mark.parametrize("name", MOLECULES)
def test_ours_float64(record, name):
    gen, ref, X, Y = workload(name)
    assert ck.automorphisms(gen).shape[0] == MOLECULES[name][1]
    out = record(f"{name}_ours_float64", ours, gen, X, Y)
    assert out.shape == (N_GEN, N_REF)


@pytest.mark.parametrize("name", MOLECULES)
def test_ours_float32(record, name):
    gen, ref, X, Y = workload(name)
    out = record(f"{name}_ours_float32", ours, gen, X.float(), Y.float())
    assert (out.double() - ours(gen, X, Y)).abs().max() < 1e-3


@pytest.mark.parametrize("name", MOLECULES)
def test_rdkit_get_all_conformer_best_rms_to_ref(record, name):
    gen, ref, X, Y = workload(name)
    out = record(f"{name}_rdkit_batched", rdMolAlign.GetAllConformerBestRMSToRef, gen, ref, rounds=3)
    # RDKit orders by reference conformer first: [(ref 0, prb 0), (ref 0, prb 1), ...].
    theirs = torch.tensor(out).reshape(N_REF, N_GEN).T
    assert (theirs - ours(gen, X, Y)).abs().max() < 1e-4


@pytest.mark.parametrize("name", MOLECULES)
def test_rdkit_get_best_rms_loop(record, name):
    gen, ref, X, Y = workload(name)
    out = record(f"{name}_rdkit_loop", rdkit_loop, gen, ref, rounds=1)
    assert (torch.tensor(out) - ours(gen, X, Y)).abs().max() < 1e-4


def test_gemm_rate(record):
    a = torch.randn(2048, 2048, dtype=torch.float64)
    record("gemm_2048", torch.matmul, a, a, rounds=5)


def _workload_flops(name):
    """(GEMM-shaped FLOPs, solve FLOPs) of one workload, Newton counted at the lanes' iterations."""
    gen, _, X, Y = workload(name)
    perms = ck.automorphisms(gen)
    n, pairs = X.shape[1], N_GEN * N_REF
    moved = (perms != torch.arange(n)).sum(1)
    gemm = pairs * (18 * n + 18 * int(moved.sum()))
    solves = pairs * (1 + int((moved > 0).sum()))  # the identity's, then each moving permutation's
    return gemm, solves * (COEFFICIENT_FLOPS + NEWTON_FLOPS * _mean_newton_iterations(X, Y))


def _mean_newton_iterations(X, Y):
    """Mean Newton iterations per pair of the identity solves (qcp_max_eigenvalue's loop)."""
    Xc, Yc = X - X.mean(1, keepdim=True), Y - Y.mean(1, keepdim=True)
    S = torch.einsum("gia,rib->grab", Xc, Yc).reshape(-1, 9).T
    E0 = (0.5 * (Xc.square().sum((1, 2))[:, None] + Yc.square().sum((1, 2))[None])).reshape(-1)
    xx, xy, xz, yx, yy, yz, zx, zy, zz = S
    c2 = -2 * S.square().sum(0)
    c1 = -8 * (xx * (yy * zz - yz * zy) - xy * (yx * zz - yz * zx) + xz * (yx * zy - yy * zx))
    K = torch.stack([torch.stack(r, -1) for r in (
        (xx + yy + zz, yz - zy, zx - xz, xy - yx), (yz - zy, xx - yy - zz, xy + yx, zx + xz),
        (zx - xz, xy + yx, -xx + yy - zz, yz + zy), (xy - yx, zx + xz, yz + zy, -xx - yy + zz))], -2)
    c0 = torch.linalg.det(K)
    x, iterations, running = E0.clone(), torch.zeros_like(E0), torch.ones_like(E0, dtype=torch.bool)
    for _ in range(100):
        p = (x * x + c2) * x * x + c1 * x + c0
        d = (4 * x * x + 2 * c2) * x + c1
        step = torch.where(running & (d > 0), p / d, torch.zeros_like(x))
        x = x - step
        iterations += running
        running &= step.abs() > 1e-15 * x.abs()
        if not running.any():
            break
    return float(iterations.mean())


def test_limits():
    """The limit of each workload at this CPU's GEMM rate, and our fraction of it (float64)."""
    if "gemm_2048" not in MEDIANS:
        pytest.skip("needs test_gemm_rate in the same run")
    rate = 2 * 2048 ** 3 / MEDIANS["gemm_2048"]
    print(f"\nfloat64 GEMM rate {rate / 1e9:.1f} GFLOP/s ({torch.get_num_threads()} threads)")
    print("| molecule | perms | GEMM-shaped MFLOP | solve MFLOP | limit ms | ours ms | fraction |")
    for name in MOLECULES:
        key = f"{name}_ours_float64"
        if key not in MEDIANS:
            continue
        gemm, solve = _workload_flops(name)
        limit = (gemm + solve) / rate
        print(f"| {name} | {MOLECULES[name][1]} | {gemm / 1e6:.1f} | {solve / 1e6:.1f} | {limit * 1e3:.3f} | "
              f"{MEDIANS[key] * 1e3:.3f} | {limit / MEDIANS[key]:.2f} |")


def test_targets():
    """>= 500x the GetBestRMS loop (250x past 4 automorphisms), >= 40x GetAllConformerBestRMSToRef,
    on every molecule, float64 (the float32 figures are printed)."""
    rows, missed = [], []
    for name, (_, count) in MOLECULES.items():
        loop, batched = ratio(f"{name}_rdkit_loop", f"{name}_ours_float64"), ratio(f"{name}_rdkit_batched", f"{name}_ours_float64")
        loop32 = ratio(f"{name}_rdkit_loop", f"{name}_ours_float32")
        rows.append(f"{name} ({count} automorphisms): {loop:.0f}x loop ({loop32:.0f}x float32), {batched:.1f}x batched; "
                    f"ours {MEDIANS[f'{name}_ours_float64'] * 1e3:.2f} ms")
        if loop < (250 if count > 4 else 500) or batched < 40:
            missed.append(name)
    print("\nrmsd_matrix 144 x 72:\n" + "\n".join(rows))
    assert not missed, f"targets missed on {missed}"
