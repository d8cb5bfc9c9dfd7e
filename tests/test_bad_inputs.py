"""Hostile-but-real inputs (issue 20) get the right answer or a clear message and exit status 2,
never a traceback or a silent wrong number. Each test stands for a class of input."""
import os
import subprocess
import sys

import pytest
from rdkit import Chem
from rdkit.Chem import AllChem


def cli(*args, cwd=None):
    result = subprocess.run([sys.executable, "-m", "conformers.cli.main", *map(str, args)], capture_output=True,
                            text=True, cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.parametrize("smiles, message", [
    ("[Na+].[Cl-]", "disconnected fragments (a salt or mixture)"),
    ("CCO.c1ccccc1", "largest fragment 'c1ccccc1'"),
    ("[Fe+2]1234C5=C1C2=C3C45", "metals and other inorganic elements are not supported"),
])
def test_salts_mixtures_and_metals_are_refused_by_name(tmp_path, smiles, message):
    result = cli("generate", smiles, "CCO", "--model", "rdkit", "-n", 2, "-o", tmp_path / "out.sdf")
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "wrote 2 conformers of 1/2 molecules" in result.stdout  # the good molecule is still written


@pytest.mark.parametrize("delta", ["-1", "nan", "0", "inf"])
def test_a_nonsense_threshold_is_refused(tmp_path, delta):
    sdf = tmp_path / "r.sdf"
    assert cli("generate", "CCO", "--model", "rdkit", "-n", 2, "-o", sdf).returncode == 0
    result = cli("evaluate", "-g", sdf, "-r", sdf, "-d", delta, "--out", tmp_path / "ev")
    assert result.returncode == 2 and "--threshold (delta, in A) must be a positive number" in result.stderr


@pytest.mark.parametrize("args, message", [
    (("generate", "CCO", "--seed", "99999999999"), "argument --seed: a seed is between 0 and"),
    (("generate", "CCO", "--seed", "-3"), "argument --seed: a seed is between 0 and"),
    (("evaluate", "--model", "rdkit", "-r", "{nci}", "--split", "nosuch"), "has no split 'nosuch'; its splits: train, val, test"),
    (("evaluate-optimization", "--model", "confopt", "-r", "{nci}", "--split", "nosuch"), "has no split 'nosuch'"),
    (("data", "split", "--cache", "{nci}", "--train", "-5"), "split sizes must be >= 0, got -5"),
])
def test_nonsense_seeds_and_splits_are_refused_by_name(tmp_path, args, message):
    from conformers.data import nci_xtb

    nci = nci_xtb("qm9")[0]
    out = {"generate": ("-o", tmp_path / "x.sdf"), "data": ("--out", tmp_path / "s.json")}.get(args[0], ("--out", tmp_path / "o"))
    result = cli(*[a.format(nci=nci) for a in args], *out)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_bad_output_paths_are_refused_before_any_work(tmp_path):
    result = cli("generate", "CCO", "--model", "rdkit", "-o", tmp_path / "nodir" / "x.sdf")
    assert result.returncode == 2 and "create it first" in result.stderr
    afile = tmp_path / "afile"
    afile.write_text("x")
    sdf = tmp_path / "r.sdf"
    cli("generate", "CCO", "--model", "rdkit", "-n", 2, "-o", sdf)
    result = cli("evaluate", "-g", sdf, "-r", sdf, "--out", afile)
    assert result.returncode == 2 and "is a file, not a folder" in result.stderr
    result = cli("optimize", sdf, "-o", tmp_path, "--model", "rdkit-mmff")
    assert result.returncode == 2 and "is a folder" in result.stderr


@pytest.mark.parametrize("setting, message", [("mmff=banana", "setting mmff takes bool"),
                                              ("bogus=1", "has no setting 'bogus'")])
def test_model_settings_are_checked(tmp_path, setting, message):
    result = cli("generate", "CCO", "--model", "rdkit", "--model-set", setting, "-o", tmp_path / "x.sdf")
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_smi_names_keep_their_spaces_and_sdf_conformers_are_one_molecule(tmp_path):
    smi = tmp_path / "in.smi"
    smi.write_text("CCO ethyl alcohol, dry\n")
    out = tmp_path / "out.sdf"
    assert cli("generate", "-i", smi, "--model", "rdkit", "-n", 1, "-o", out).returncode == 0
    assert [m.GetProp("_Name") for m in Chem.SDMolSupplier(str(out))] == ["ethyl alcohol, dry"]
    mol = Chem.AddHs(Chem.MolFromSmiles("CCCO"))
    AllChem.EmbedMultipleConfs(mol, 4, randomSeed=1)
    mol.SetProp("_Name", "propanol")
    sdf = tmp_path / "four.sdf"
    with Chem.SDWriter(str(sdf)) as writer:
        for conf in mol.GetConformers():
            writer.write(mol, confId=conf.GetId())
    result = cli("generate", "-i", sdf, "--model", "rdkit", "-n", 1, "-o", out)
    assert result.returncode == 0 and "wrote 1 conformers of 1/1 molecules" in result.stdout, result.stdout


def test_optimize_refuses_2d_and_collapsed_coordinates_by_record(tmp_path):
    """A 2D drawing or all-zero coordinates are not refined into a flat or mirrored molecule: those
    records are named as failed and the 3D record beside them is still written."""
    flat = Chem.AddHs(Chem.MolFromSmiles("C[C@H](N)C(=O)O"))
    AllChem.Compute2DCoords(flat)
    flat.SetProp("_Name", "alanine-2d")
    zero = Chem.Mol(flat)
    zero.SetProp("_Name", "alanine-zero")
    conf = Chem.Conformer(zero.GetNumAtoms())
    conf.Set3D(True)
    zero.RemoveAllConformers()
    zero.AddConformer(conf)
    good = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(good, randomSeed=1)
    good.SetProp("_Name", "ethanol")
    sdf = tmp_path / "mixed.sdf"
    with Chem.SDWriter(str(sdf)) as writer:
        for mol in (flat, zero, good):
            writer.write(mol)
    for model in ("rdkit-mmff", "confopt"):
        result = cli("optimize", sdf, "-o", tmp_path / f"out-{model}.sdf", "--model", model)
        assert result.returncode == 1, result.stderr
        assert "alanine-2d" in result.stderr and "is 2D" in result.stderr
        assert "alanine-zero" in result.stderr and "every atom at the same point" in result.stderr
        assert [m.GetProp("_Name") for m in Chem.SDMolSupplier(str(tmp_path / f"out-{model}.sdf"))] == ["ethanol"]


CROWDED = "CC(C)(C)c1c(C(C)(C)C)c(C(C)(C)C)c(C(C)(C)C)c(C(C)(C)C)c1C(C)(C)C"  # hexa-tert-butylbenzene


def test_a_molecule_past_the_embedding_budget_fails_by_name_and_the_others_are_written(tmp_path):
    out = tmp_path / "out.sdf"
    result = cli("generate", "CCO", CROWDED, "c1ccccc1O", "--model", "rdkit", "-n", 2, "--timeout", 2, "-o", out)
    assert result.returncode == 1 and f"failed {CROWDED}" in result.stderr and "within 2 s" in result.stderr
    assert "wrote 4 conformers of 2/3 molecules" in result.stdout
    names = [m.GetProp("_Name") for m in Chem.SDMolSupplier(str(out))]
    assert names == ["CCO", "CCO", "c1ccccc1O", "c1ccccc1O"] and not os.path.exists(f"{out}.partial")
    for bad in ("0", "-3", "nan", "inf"):
        result = cli("generate", "CCO", "--model", "rdkit", "--timeout", bad, "-o", out)
        assert result.returncode == 2 and "--timeout must be a positive number" in result.stderr


def test_a_molecule_past_a_learned_models_sampling_budget_fails_by_name_and_the_others_are_written(tmp_path):
    """The budget covers a learned model's sampling too: ConfGF's 500 Langevin steps on a
    300-carbon chain pass 2 s, the batch is sampled again molecule by molecule, and only the chain
    fails (ethanol and phenol take ~0.4 s each here)."""
    out, chain = tmp_path / "out.sdf", "C" * 300
    result = cli("generate", "CCO", chain, "c1ccccc1O", "--model", "confgf", "-n", 2, "--timeout", 2, "-o", out)
    assert result.returncode == 1 and f"failed {chain}: SamplingTimeout" in result.stderr, result.stderr
    assert "time budget of 2 s per molecule (--timeout)" in result.stderr
    assert [m.GetProp("_Name") for m in Chem.SDMolSupplier(str(out))] == ["CCO", "CCO", "c1ccccc1O", "c1ccccc1O"]


def test_a_killed_generate_keeps_every_finished_molecule(tmp_path):
    """Molecules are on disk as they finish (flushed and synced): killed while embedding a slow one
    (SIGKILL: no handler runs), the run leaves the molecules before it in OUT.partial and no OUT."""
    import signal
    import time

    out = tmp_path / "out.sdf"
    proc = subprocess.Popen([sys.executable, "-m", "conformers.cli.main", "generate", "CCO", "c1ccccc1O", CROWDED,
                             "--model", "rdkit", "-n", "2", "--timeout", "300", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    partial, deadline = f"{out}.partial", time.time() + 120
    while time.time() < deadline and not (os.path.exists(partial) and open(partial).read().count("$$$$") >= 4):
        time.sleep(0.2)
    time.sleep(0.5)  # now inside the slow embedding
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert [m.GetProp("_Name") for m in Chem.SDMolSupplier(partial)] == ["CCO", "CCO", "c1ccccc1O", "c1ccccc1O"]
    assert not out.exists()


def test_gzipped_sdf_is_read_everywhere_and_a_mislabelled_one_is_named(tmp_path):
    """.sdf.gz (how SDF collections are downloaded) works as generate's input, optimize's input
    and evaluate's generated/reference sets; gzip data named .sdf, or a truncated .gz, is refused
    by name with exit status 2."""
    import gzip
    import shutil

    sdf = tmp_path / "r.sdf"
    assert cli("generate", "CC(C)O", "--model", "rdkit", "-n", 3, "-o", sdf).returncode == 0
    packed = tmp_path / "r.sdf.gz"
    with open(sdf, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert cli("generate", "-i", packed, "--model", "rdkit", "-n", 2, "-o", tmp_path / "g.sdf").returncode == 0
    assert cli("optimize", packed, "--model", "rdkit-mmff", "-o", tmp_path / "o.sdf").returncode == 0
    result = cli("evaluate", "-g", packed, "-r", packed, "--out", tmp_path / "ev", "--no-plot")
    assert result.returncode == 0 and "COV-R 100.0% / MAT-R 0.000 A" in result.stdout
    shutil.copy(packed, tmp_path / "mislabelled.sdf")
    result = cli("generate", "-i", tmp_path / "mislabelled.sdf", "--model", "rdkit", "-o", tmp_path / "x.sdf")
    assert result.returncode == 2 and "not a text SDF file (gzipped? name it .sdf.gz)" in result.stderr
    (tmp_path / "cut.sdf.gz").write_bytes(packed.read_bytes()[:60])
    result = cli("evaluate", "-g", tmp_path / "cut.sdf.gz", "-r", sdf, "--out", tmp_path / "ev2", "--no-plot")
    assert result.returncode == 2 and "cut.sdf.gz is not a readable gzip file" in result.stderr


def test_a_highly_symmetric_molecule_is_exact_and_capped_molecules_are_reported(tmp_path):
    """Tetra-tert-butylmethane's 31,104 automorphisms are all enumerated under the default cap (the
    evaluation is exact: an SDF against itself gives MAT 0 and the same MAT as an exact brute
    force); a molecule past the cap (2 x 1296^2) is evaluated exactly by the branch and bound beyond
    it and listed in summary.json's symmetry_capped_molecules, not among the upper bounds."""
    import json

    import numpy as np
    import torch

    import conformer_kernels as ck
    from conformers.metrics.ensembles import read_sdf
    from conformers.metrics.evaluation import evaluate

    sdf = tmp_path / "t.sdf"
    assert cli("generate", "CC(C)(C)C(C(C)(C)C)(C(C)(C)C)C(C)(C)C", "--model", "rdkit", "-n", 4, "-o", sdf).returncode == 0
    result = cli("evaluate", "-g", sdf, "-r", sdf, "--out", tmp_path / "ev", "--no-plot")
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert result.returncode == 0 and summary["mat_recall_mean"] < 1e-6 and summary["symmetry_capped_molecules"] == []
    ensembles, _ = read_sdf(str(sdf))
    (name, ensemble), = ensembles.items()
    X = torch.from_numpy(ensemble.coordinates)
    full = ck.automorphisms(ensemble.mol, max_count=10**6)
    assert full.shape[0] == 31104
    shifted = {name: type(ensemble)(name, ensemble.mol, np.roll(ensemble.coordinates, 1, axis=0) + 0.0)}
    got = evaluate(ensembles, shifted, 1.25).per_molecule[0]
    exact = ck.rmsd_matrix(X, torch.roll(X, 1, 0), full)
    assert abs(got["mat_recall"] - float(exact.min(0).values.mean())) < 1e-6 and not got["symmetry_capped"]
    many = "C(CC(C)(C)C)(CC(C)(C)C)(CC(C)(C)C)CCCCC(CC(C)(C)C)(CC(C)(C)C)CC(C)(C)C"  # 2 x 1296^2 automorphisms
    sdf2 = tmp_path / "many.sdf"
    assert cli("generate", many, "--model", "rdkit", "-n", 2, "-o", sdf2).returncode == 0
    result = cli("evaluate", "-g", sdf2, "-r", sdf2, "--out", tmp_path / "ev2", "--no-plot")
    summary = json.loads((tmp_path / "ev2" / "summary.json").read_text())
    assert result.returncode == 0 and summary["symmetry_capped_molecules"] == [many], result.stderr
    assert summary["symmetry_upper_bound_molecules"] == [] and summary["mat_recall_mean"] < 1e-6  # exact past the cap


@pytest.mark.parametrize("smiles", ["C1C2CC3CC1CC(C2)C3", "C1CC2CC1C2", "C1CC2CCC1C2", "CC1C2CCC1CC2", "C[C@H](N)C(=O)O"])
def test_an_sdf_against_itself_keeps_full_stereo_fidelity(tmp_path, smiles):
    """Bridgehead atoms that are no stereocentres (adamantane) get chiral tags when an SDF is read;
    they are not counted as specified stereo, so a file against itself scores fidelity 1 (or has
    no stereo), and real centres still count."""
    import json

    sdf = tmp_path / "r.sdf"
    assert cli("generate", smiles, "--model", "rdkit", "-n", 4, "-o", sdf).returncode == 0
    assert cli("evaluate", "-g", sdf, "-r", sdf, "--out", tmp_path / "ev", "--no-plot").returncode == 0
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert summary["stereo_fidelity_mean"] in (None, 1.0)
    assert summary["stereo_molecules"] == (0 if smiles.startswith("C1C2") else 1)


def test_threads_option(tmp_path):
    """--threads caps the model's CPU threads (1 beside other busy processes); nonsense is refused."""
    out = tmp_path / "x.sdf"
    result = cli("generate", "CCO", "--model", "confopt", "--threads", 0, "-o", out)
    assert result.returncode == 2 and "--threads must be >= 1" in result.stderr
    assert cli("generate", "CCO", "--model", "confopt", "--threads", 1, "-n", 2, "-o", out).returncode == 0
    assert len(Chem.SDMolSupplier(str(out))) == 2


def test_conformers_with_overlapping_atoms_are_never_written(tmp_path):
    """ETKDG embeds this hypervalent sulfur with two atoms 0.18 A apart (found by the fuzz suite):
    such conformers are dropped and counted, never written as molecules."""
    import numpy as np

    out = tmp_path / "out.sdf"
    result = cli("generate", "C1=CC=CS1(C)(O)([C@H](N)C(=O)O)", "CCO", "--model", "rdkit", "-n", 2, "-o", out)
    assert "two atoms closer than 0.5 A" in result.stderr, result.stderr
    for mol in Chem.SDMolSupplier(str(out), removeHs=False, sanitize=False):
        xyz = mol.GetConformer().GetPositions()
        d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1) + 1e9 * np.eye(len(xyz))
        assert d.min() >= 0.5


def test_optimize_on_an_empty_sdf_names_it_and_writes_nothing(tmp_path):
    empty = tmp_path / "empty.sdf"
    empty.write_text("")
    out = tmp_path / "out.sdf"
    result = cli("optimize", empty, "--model", "rdkit-mmff", "-o", out)
    assert result.returncode == 2 and "holds no molecules (empty SDF)" in result.stderr, result.stderr
    assert not out.exists()
