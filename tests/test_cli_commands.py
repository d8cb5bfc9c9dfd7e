"""Every `conformers` command and subcommand run as a subprocess on a small input, as users run
them: exit status 0, the files it promises, no traceback. A command that cannot start (an import
that no longer resolves, a renamed function) fails here."""
import json
import os
import subprocess
import sys

import pytest
from rdkit import Chem

from conformers.data import nci_xtb

from .data import fake_geom

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QM9_SMALL = nci_xtb("qm9")[0]


def run(*args, cwd=None):
    result = subprocess.run([sys.executable, "-m", "conformers.cli.main", *map(str, args)], capture_output=True,
                            text=True, cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def generated(work):
    out = work / "gen.sdf"
    result = run("generate", "CCO", "CC(C)O", "-n", 3, "-o", out, "--seed", 1)
    assert "wrote 6 conformers of 2/2 molecules" in result.stdout
    return out


def test_models():
    out = run("models").stdout
    assert "rdkit" in out and "confopt" in out and "(default)" in out
    # which ship weights, and what they were trained on (the record beside the checkpoint)
    assert "[weights confopt_refiner.pt; trained on data/qm9-xtb" in out and "[no weights (RDKit)]" in out


def test_generate(generated):
    assert len([m for m in Chem.SDMolSupplier(str(generated))]) == 6


@pytest.mark.parametrize("model", ["rdkit-mmff", "confopt"])
def test_optimize(generated, work, model):
    out = work / f"opt-{model}.sdf"
    result = run("optimize", generated, "-o", out, "--model", model)
    assert "wrote 6 optimized conformers of 2 molecules" in result.stdout and "0 failed" in result.stdout
    assert f"(model {model})" in result.stdout
    mols = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    assert len(mols) == 6 and all(m.GetNumAtoms() in (9, 12) for m in mols)  # with hydrogens
    assert all(m.GetProp("model") == model for m in mols)


def test_evaluate(generated, work):
    out = work / "ev"
    result = run("evaluate", "-g", generated, "-r", generated, "-d", 0.5, "--out", out, "--quiet")
    assert "2 molecules evaluated" in result.stdout
    assert json.loads((out / "summary.json").read_text())["cov_recall_mean"] == 1.0
    assert (out / "coverage_curves.png").stat().st_size > 1000  # drawn by the worker process


def test_files_name_the_model_asked_for_not_its_class(generated, work):
    """confopt and confopt-generation share one class: generate's SDF and message and evaluate's
    generation.json and generated.sdf say which one made them."""
    out = work / "gen-confopt-generation.sdf"
    result = run("generate", "CCCO", "--model", "confopt-generation", "-n", 2, "-o", out)
    assert "(model confopt-generation," in result.stdout
    assert {m.GetProp("model") for m in Chem.SDMolSupplier(str(out))} == {"confopt-generation"}
    folder = work / "ev-confopt-generation"
    run("evaluate", "--model", "confopt-generation", "-r", generated, "-d", 0.5, "--out", folder, "--quiet",
        "--no-plot")
    assert json.loads((folder / "generation.json").read_text())["model"] == "confopt-generation"
    assert {m.GetProp("model") for m in Chem.SDMolSupplier(str(folder / "generated.sdf"))} == {"confopt-generation"}


@pytest.mark.parametrize("model", ["rdkit-mmff", "confopt"])
def test_evaluate_optimization(work, model):
    out = work / f"eo-{model}"
    result = run("evaluate-optimization", "--model", model, "-r", QM9_SMALL, "--limit", 3, "--starts", 2,
                 "--out", out, "--quiet")
    assert "RDKit+MMFF" in result.stdout
    report = json.loads((out / "optimization.json").read_text())
    assert report["molecules"] == 3 and report["starts"] == 2 and report["conformers"] == 6
    for row in ("rdkit_mmff", "optimized"):
        assert set(report[row]) >= {"mean", "mean_std_over_starts", "median", "median_std_over_starts"}


def test_data_prepare_geom(work):
    release = work / "geom"
    fake_geom.write_release(str(release))
    result = run("data", "prepare", "--geom", release, "--name", "drugs", "--out", work / "cache", "--workers", 1,
                 "--quiet")
    assert "kept" in result.stdout and (work / "cache" / "report.json").exists()


def test_data_split(work):
    out = work / "split.json"
    result = run("data", "split", "--cache", QM9_SMALL, "--out", out, "--train", 20, "--val", 5, "--test", 5,
                 "--min-train-conformers", 1)
    assert "train 20, val 5, test 5" in result.stdout
    assert len(json.loads(out.read_text())["test"]) == 5


def test_data_build(work):
    out = work / "built"
    result = run("data", "build", "--smiles", "CCO,CCN,OCC", "--out", out, "--seeds", 2, "--workers", 1,
                 "--embed-timeout", 10, "--quiet")
    assert "built 2 of 3" in result.stdout and "1 duplicates skipped" in result.stdout
    assert "skipped MOL2 OCC: the same molecule as MOL0" in result.stderr  # not collapsed silently
    assert (out / "summary_drugs.json").exists()


def test_train(work):
    config = work / "train.yaml"
    config.write_text(f"""
model: {{name: confopt, hidden: 16, heads: 2, blocks: 1, layers: 1}}
data: {{cache: {QM9_SMALL}, split: {QM9_SMALL}/split.json, batch_size: 4, val_max_batches: 1}}
train: {{max_steps: 2, log_every: 1, val_every: 2, checkpoint_every: 2, progress: false, threads: 1}}
""")
    result = run("train", "-c", config, "-o", work / "run")
    assert "trained to step 2" in result.stdout and (work / "run" / "best.pt").exists()
    resumed = run("train", "-c", config, "-o", work / "run", "--resume", "--set", "train.max_steps=3")
    assert "trained to step 3" in resumed.stdout
    tuned = run("train", "-c", config, "-o", work / "tuned", "--set", f"train.init_from={work / 'run' / 'best.pt'}",
                "--set", "model.relaxed_start_prob=1.0")  # fine-tuning from relaxed-reference starts
    assert "trained to step 2" in tuned.stdout


def test_export(work):
    """A run's last.pt (weights and optimizer) exported as half-precision weights that load and sample."""
    import torch

    out = work / "shipped.pt"
    result = run("export", work / "run" / "checkpoints" / "last.pt", out, "--dtype", "float16")
    assert "weights in float16" in result.stdout
    payload = torch.load(out, weights_only=False)
    assert "optimizer" not in payload and payload["weights_dtype"] == "float16"
    assert all(v.dtype == torch.float16 for v in payload["state_dict"].values() if v.is_floating_point())
    run("generate", "CCO", "-n", 2, "--model", out, "-o", work / "from_export.sdf")
    assert {m.GetProp("model") for m in Chem.SDMolSupplier(str(work / "from_export.sdf"))} == {str(out)}
    bad = subprocess.run([sys.executable, "-m", "conformers.cli.main", "export", work / "nothing.pt", out],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no checkpoint at" in bad.stderr and "Traceback" not in bad.stderr
    # --model-set stores a changed model setting with the weights; one the model does not have is refused
    run("export", work / "run" / "best.pt", work / "set.pt", "--model-set", "samples=7")
    assert torch.load(work / "set.pt", weights_only=False)["config"]["samples"] == 7
    bad = subprocess.run([sys.executable, "-m", "conformers.cli.main", "export", work / "run" / "best.pt",
                          work / "bad.pt", "--model-set", "nosuch=1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "nosuch" in bad.stderr and "Traceback" not in bad.stderr
    assert not (work / "bad.pt").exists()


def test_evaluate_optimization_reuses_cached_starts(work):
    prefix = work / "starts"
    reports = []
    for k in range(2):
        out = work / f"eo-cached-{k}"
        run("evaluate-optimization", "--model", "confopt", "-r", QM9_SMALL, "--limit", 2, "--starts", 2,
            "--seed", 7, "--out", out, "--quiet", "--starts-cache", prefix)
        reports.append(json.loads((out / "optimization.json").read_text()))
    assert (work / "starts.npz").exists() and json.loads((work / "starts.json").read_text())["seed"] == 7
    assert [r["rmsd_start"] for r in reports[0]["per_molecule"]] == [r["rmsd_start"] for r in reports[1]["per_molecule"]]


def test_data_merge(work):
    out = work / "merged"
    result = run("data", "merge", QM9_SMALL, nci_xtb("drugs")[0], "--out", out, "--repeat", "1,2")
    assert "molecules in" in result.stdout
    split = json.loads((out / "split.json").read_text())
    assert split["key"] == "position" and len(split["test"]) > 0
    held = run("data", "merge", nci_xtb("drugs")[0], "--out", work / "held", "--held-out", QM9_SMALL)
    assert "molecules in" in held.stdout
    assert json.loads((work / "held" / "report.json").read_text())["held_out"]


def _coordinates(path):
    return [m.GetConformer().GetPositions().round(5).tolist() for m in Chem.SDMolSupplier(str(path), removeHs=False)]


def test_device_cpu_changes_no_result(work):
    """--device cpu is what the default (auto) gives on this CPU machine, bit for bit: generation of
    a learned model and training alike."""
    outs = []
    for k, extra in enumerate(([], ["--device", "cpu"])):
        outs.append(work / f"dev-{k}.sdf")
        run("generate", "CCO", "CC(=O)N", "-n", 2, "--seed", 3, "--model", "confopt", "-o", outs[-1], *extra)
    assert _coordinates(outs[0]) == _coordinates(outs[1])
    config = work / "train-device.yaml"
    config.write_text(f"""
model: {{name: confopt, hidden: 16, heads: 2, blocks: 1, layers: 1}}
data: {{cache: {QM9_SMALL}, split: {QM9_SMALL}/split.json, batch_size: 4, val_max_batches: 1}}
train: {{max_steps: 2, log_every: 1, val_every: 2, checkpoint_every: 2, progress: false, threads: 1}}
""")
    logs = []
    for k, extra in enumerate(([], ["--device", "cpu"])):
        run("train", "-c", config, "-o", work / f"dev-run-{k}", *extra)
        logs.append((work / f"dev-run-{k}" / "log.csv").read_text())
        assert json.loads((work / f"dev-run-{k}" / "final.json").read_text())["device"] == "cpu"
    assert logs[0] == logs[1]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message of a machine without CUDA")
@pytest.mark.parametrize("command", [["generate", "CCO", "--model", "confopt"], ["generate", "CCO", "--model", "rdkit"],
                                     ["train", "-c", "tiny.yaml", "-o", "tiny-run"]])
def test_a_device_this_machine_lacks_is_refused_clearly(work, command):
    (work / "tiny.yaml").write_text(f"""
model: {{name: confopt, hidden: 16, heads: 2, blocks: 1, layers: 1}}
data: {{cache: {QM9_SMALL}, split: {QM9_SMALL}/split.json, batch_size: 4}}
train: {{max_steps: 1, progress: false, threads: 1}}
""")
    for device, message in (("cuda", "no usable CUDA device"), ("tpu", "device must be auto, cpu, cuda or cuda:N")):
        result = subprocess.run([sys.executable, "-m", "conformers.cli.main", *command, "--device", device],
                                capture_output=True, text=True, cwd=work)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert message in result.stderr, result.stderr
