"""Evaluation throughput on a GEOM-Drugs-shaped workload, end to end from SDF files: 200 drug-like
molecules (the repository's nci-xtb set), 72 reference and 144 generated conformers each, with
hydrogens in the files as models and GEOM write them. Peers in the same run, both reading the same
SDFs with RDKit: RDKit's batched GetAllConformerBestRMSToRef per molecule, and the GetBestRMS loop
over every pair that the reference repositories use. Targets: >= 2x and >= 40x in process, and the
`conformers evaluate` command end to end >= 5x the batched peer."""
import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, rdMolAlign

from conformers.data import MoleculeCache, nci_xtb
from conformers.metrics import coverage_metrics, evaluate
from conformers.metrics.ensembles import read_generated_and_reference

from .conftest import MEDIANS, ratio

RDLogger.DisableLog("rdApp.*")
N_MOL, N_REF, N_GEN, N_SEED = 200, 72, 144, 24


@pytest.fixture(scope="module")
def sdf_files(tmp_path_factory):
    """ETKDG seeds (24 per molecule), each reused with 0.15 A noise and a random rigid motion."""
    root = tmp_path_factory.mktemp("evaluate")
    cache = MoleculeCache(nci_xtb("drugs")[0])
    rng = np.random.default_rng(0)
    paths = {"ref": str(root / "ref.sdf"), "gen": str(root / "gen.sdf")}
    writers = {k: Chem.SDWriter(p) for k, p in paths.items()}
    params = AllChem.ETKDGv3()
    params.randomSeed, params.numThreads = 7, 0
    for i in range(N_MOL):
        mol = Chem.AddHs(cache.rdkit_mol(i, with_conformers=False))
        ids = list(AllChem.EmbedMultipleConfs(mol, N_SEED, params))
        mol.SetProp("_Name", cache.names[i])
        for kind, count in (("ref", N_REF), ("gen", N_GEN)):
            for k, seed_id in zip(range(count), itertools.cycle(ids)):
                conf = mol.GetConformer(seed_id)
                xyz = conf.GetPositions()
                q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
                moved = (xyz + rng.normal(0, 0.15, xyz.shape)) @ q.T + rng.normal(0, 5, 3)
                copy = Chem.Mol(mol, confId=seed_id)
                copy.GetConformer().SetPositions(moved)
                writers[kind].write(copy)
    for w in writers.values():
        w.close()
    return paths


def ours(paths, stereo=False):
    """What `conformers evaluate` does: both SDFs read (concurrently), then the evaluation."""
    (generated, _), (references, _) = read_generated_and_reference(paths["gen"], paths["ref"])
    return evaluate(generated, references, 1.25, stereo=stereo)


def _rdkit_read(path):
    """Consecutive records with one title -> one heavy-atom molecule with all their conformers."""
    out = {}
    for title, group in itertools.groupby(Chem.SDMolSupplier(path), key=lambda m: m.GetProp("_Name")):
        group = list(group)
        mol = Chem.Mol(group[0])
        for other in group[1:]:
            mol.AddConformer(Chem.Conformer(other.GetConformer()), assignId=True)
        out[title] = mol
    return out


def _rdkit_metrics(paths, matrix):
    """COV/MAT per molecule from both SDFs read by RDKit, matrix(gen, ref) -> (G, R) RMSD."""
    gen, ref = _rdkit_read(paths["gen"]), _rdkit_read(paths["ref"])
    return {key: coverage_metrics(matrix(gen[key], r), 1.25) for key, r in ref.items()}


def rdkit_batched(paths):
    # GetAllConformerBestRMSToRef orders (ref 0, prb 0), (ref 0, prb 1), ...
    return _rdkit_metrics(paths, lambda g, r: np.asarray(rdMolAlign.GetAllConformerBestRMSToRef(g, r))
                          .reshape(r.GetNumConformers(), -1).T)


def rdkit_loop(paths):
    return _rdkit_metrics(paths, lambda g, r: np.asarray(
        [[rdMolAlign.GetBestRMS(g, r, prbId=a.GetId(), refId=b.GetId()) for b in r.GetConformers()]
         for a in g.GetConformers()]))


def test_ours(record, sdf_files):
    result = record("ours", ours, sdf_files, rounds=3)
    assert result.summary["n_molecules"] == N_MOL and result.summary["n_failed"] == 0
    MEDIANS["ours_result"] = result


def test_ours_with_stereo(record, sdf_files):
    record("ours_stereo", ours, sdf_files, True, rounds=1)


def cli(paths, out):
    """`conformers evaluate` as users run it, defaults on (stereo fidelity, report, plot)."""
    subprocess.run([sys.executable, "-m", "conformers.cli.main", "evaluate", "-g", paths["gen"], "-r", paths["ref"],
                    "-d", "1.25", "--out", out, "--quiet"], check=True, capture_output=True)


def test_ours_cli(record, sdf_files, tmp_path):
    record("ours_cli", cli, sdf_files, str(tmp_path / "report"), rounds=3)
    assert json.loads((tmp_path / "report" / "summary.json").read_text())["n_molecules"] == N_MOL


def test_rdkit_batched(record, sdf_files):
    theirs = record("rdkit_batched", rdkit_batched, sdf_files, rounds=1)
    result = MEDIANS.get("ours_result") or ours(sdf_files)
    mine = {m["molecule"]: m for m in result.per_molecule}
    for key, m in theirs.items():  # same numbers, molecule by molecule
        assert m["cov_recall"] == mine[key]["cov_recall"] and abs(m["mat_recall"] - mine[key]["mat_recall"]) < 1e-4


def test_rdkit_loop(record, sdf_files):
    record("rdkit_loop", rdkit_loop, sdf_files, rounds=1)


def test_targets():
    """In-process: >= 2x the batched peer, >= 40x the loop; the command end to end (a new process:
    imports, both files read, stereo fidelity, report and plot): >= 5x the batched peer."""
    batched, loop = ratio("rdkit_batched", "ours"), ratio("rdkit_loop", "ours")
    cli_batched = ratio("rdkit_batched", "ours_cli")
    print(f"\nevaluation of {N_MOL} molecules x ({N_REF} ref, {N_GEN} gen) from SDF: ours {MEDIANS['ours']:.2f} s; "
          f"{batched:.1f}x RDKit GetAllConformerBestRMSToRef ({MEDIANS['rdkit_batched']:.1f} s), "
          f"{loop:.0f}x the GetBestRMS loop ({MEDIANS['rdkit_loop']:.0f} s); `conformers evaluate` end to end "
          f"{MEDIANS['ours_cli']:.2f} s: {cli_batched:.1f}x the batched peer")
    assert batched >= 2.0 and loop >= 40.0 and cli_batched >= 5.0
