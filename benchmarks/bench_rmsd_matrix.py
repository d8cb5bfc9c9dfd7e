"""Symmetric rmsd_matrix on the GEOM-Drugs COV/MAT workload: 144 generated x 72 reference
conformers of one drug (imatinib, 37 heavy atoms, 4 automorphisms), against the RDKit
GetBestRMS loop of the reference repositories and RDKit's batched GetAllConformerBestRMSToRef."""
import functools

import torch
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, rdMolAlign

import conformer_kernels as ck

from .conftest import MEDIANS, ratio

RDLogger.DisableLog("rdApp.*")
IMATINIB = "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1"
N_GEN, N_REF = 144, 72


@functools.lru_cache(maxsize=None)
def workload():
    mh = Chem.AddHs(Chem.MolFromSmiles(IMATINIB))
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


def test_ours_float64(record):
    gen, ref, X, Y = workload()
    out = record("ours_float64", ours, gen, X, Y)
    assert out.shape == (N_GEN, N_REF)


def test_ours_float32(record):
    gen, ref, X, Y = workload()
    record("ours_float32", ours, gen, X.float(), Y.float())


def test_rdkit_get_all_conformer_best_rms_to_ref(record):
    gen, ref, X, Y = workload()
    out = record("rdkit_batched", rdMolAlign.GetAllConformerBestRMSToRef, gen, ref, rounds=3)
    ours_matrix = ck.rmsd_matrix(X, Y, ck.automorphisms(gen))
    # RDKit orders by reference conformer first: [(ref 0, prb 0), (ref 0, prb 1), ...].
    theirs = torch.tensor(out).reshape(N_REF, N_GEN).T
    assert (theirs - ours_matrix).abs().max() < 1e-4


def test_rdkit_get_best_rms_loop(record):
    gen, ref, X, Y = workload()
    out = record("rdkit_loop", rdkit_loop, gen, ref, rounds=1)
    assert (torch.tensor(out) - ck.rmsd_matrix(X, Y, ck.automorphisms(gen))).abs().max() < 1e-4


def test_targets():
    """Targets on the 2-core CPU: >= 300x the GetBestRMS loop, >= 20x GetAllConformerBestRMSToRef."""
    loop, batched = ratio("rdkit_loop", "ours_float64"), ratio("rdkit_batched", "ours_float64")
    print(f"\nrmsd_matrix {N_GEN}x{N_REF}: {loop:.0f}x the GetBestRMS loop, {batched:.0f}x GetAllConformerBestRMSToRef; "
          f"medians (s): {({k: round(v, 5) for k, v in MEDIANS.items()})}")
    assert loop >= 300 and batched >= 20
