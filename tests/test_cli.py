"""The `conformers` command line, end to end on real RDKit molecules and SDF files."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from rdkit import Chem

from conformers.cli.main import main
from conformers.data import MoleculeCache, load_split, nci_xtb

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def _records(path):
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


def test_generate_smiles_and_smi_file(tmp_path, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("SMILES name\nCCO ethanol\nC1CC( broken\nc1ccncc1 pyridine\n")
    out = tmp_path / "out.sdf"
    code = main(["generate", ASPIRIN, "--input", str(smi), "-n", "3", "-o", str(out), "--seed", "5"])
    assert code == 1  # one molecule failed: the exit status says so, the others are written
    captured = capsys.readouterr()
    assert "failed broken" in captured.err and "invalid SMILES" in captured.err
    mols = _records(out)
    assert [m.GetProp("_Name") for m in mols] == [ASPIRIN] * 3 + ["ethanol"] * 3 + ["pyridine"] * 3
    assert all(m.GetProp("model") == "confopt" and m.GetProp("seed") == "5" for m in mols)  # the default
    assert all(float(m.GetProp("seconds_per_molecule")) >= 0 for m in mols)
    assert mols[3].GetNumAtoms() == 9  # hydrogens included
    assert "wrote 9 conformers of 3/4 molecules" in captured.out


def test_generate_from_sdf_keeps_titles_and_stereo(tmp_path):
    src = tmp_path / "in.sdf"
    with Chem.SDWriter(str(src)) as writer:
        for name, smiles in (("lactic", "C[C@H](O)C(=O)O"), ("butene", "C/C=C/C")):
            mol = Chem.MolFromSmiles(smiles)
            mol.SetProp("_Name", name)
            writer.write(mol)
    out = tmp_path / "out.sdf"
    assert main(["generate", "--input", str(src), "-n", "2", "-o", str(out)]) == 0
    mols = _records(out)
    assert [m.GetProp("_Name") for m in mols] == ["lactic", "lactic", "butene", "butene"]
    assert Chem.MolToSmiles(Chem.RemoveHs(mols[0])) == Chem.MolToSmiles(Chem.MolFromSmiles("C[C@H](O)C(=O)O"))


def test_bad_inputs_give_clear_messages(tmp_path, capsys):
    assert main(["generate", "--input", str(tmp_path / "missing.smi")]) == 2
    assert "no input file" in capsys.readouterr().err
    empty = tmp_path / "empty.sdf"
    empty.write_text("")
    assert main(["generate", "--input", str(empty)]) == 2
    assert "empty SDF" in capsys.readouterr().err
    assert main(["generate", "CCO", "--model", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    corrupt = tmp_path / "model.pt"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    assert main(["generate", "CCO", "--model", str(corrupt)]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err
    import torch

    from conformers.models.base import SHIPPED

    edited = torch.load(f"{SHIPPED}/confopt_refiner.pt", weights_only=False)  # weights of another shape
    edited["config"]["hidden"] = 64
    torch.save(edited, tmp_path / "edited.pt")
    assert main(["generate", "CCO", "--model", str(tmp_path / "edited.pt")]) == 2
    assert "its weights do not fit a confopt model with its config" in capsys.readouterr().err
    assert main(["generate", "CCO", "--model", "rdkit", "--model-set", "mmff=["]) == 2
    assert "--model-set 'mmff=[' is not valid YAML" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("model: {name: confopt\n")
    assert main(["train", "-c", str(tmp_path / "bad.yaml"), "-o", str(tmp_path / "run")]) == 2
    assert "bad.yaml is not valid YAML" in capsys.readouterr().err
    assert main(["evaluate", "-g", str(empty), "-r", str(empty), "--out", str(tmp_path / "ev")]) == 2
    assert "empty SDF" in capsys.readouterr().err
    assert main(["evaluate", "-g", str(tmp_path / "nope.sdf"), "-r", str(empty), "--out", str(tmp_path / "ev")]) == 2
    assert "no such file" in capsys.readouterr().err or "no SDF file" in capsys.readouterr().err
    result = subprocess.run([sys.executable, "-m", "conformers.cli.main", "generate", "C1CC(", "-o",
                             str(tmp_path / "x.sdf")], capture_output=True, text=True)
    assert result.returncode == 1 and "invalid SMILES 'C1CC('" in result.stderr
    assert not (tmp_path / "x.sdf").exists()  # nothing generated, no file


def _export_references(tmp_path, count):
    """The first test molecules of the repository's qm9-sized set: a .smi and a reference SDF."""
    cache_dir, split_file = nci_xtb("qm9")
    cache = MoleculeCache(cache_dir)
    names = load_split(split_file)["test"][:count]
    smi, ref = tmp_path / "test.smi", tmp_path / "ref.sdf"
    with open(smi, "w") as handle, Chem.SDWriter(str(ref)) as writer:
        for smiles in names:
            i = cache.index_of(smiles)
            mol = cache.rdkit_mol(i)
            handle.write(f"{smiles} {cache.names[i]}\n")
            for conf in mol.GetConformers():
                writer.write(mol, confId=conf.GetId())
    return smi, ref, cache, names


def test_generate_then_evaluate_end_to_end(tmp_path, capsys):
    smi, ref, cache, names = _export_references(tmp_path, 4)
    gen = tmp_path / "gen.sdf"
    assert main(["generate", "--input", str(smi), "-n", "6", "-o", str(gen)]) == 0
    out = tmp_path / "report"
    assert main(["evaluate", "-g", str(gen), "-r", str(ref), "-d", "0.5", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("n_molecules", "n_failed", "cov_recall_mean", "cov_recall_median", "mat_recall_mean",
                "mat_recall_median", "cov_precision_mean", "cov_precision_median", "mat_precision_mean",
                "mat_precision_median", "mis_mean", "threshold"):
        assert key in summary, key
    assert summary["n_molecules"] == 4 and summary["n_failed"] == 0 and summary["threshold"] == 0.5
    assert summary["n_generated_conformers"] == 24
    assert summary["n_reference_conformers"] == sum(int(cache.num_conformers()[cache.index_of(s)]) for s in names)
    assert 0 <= summary["cov_recall_mean"] <= 1 and summary["mat_recall_mean"] > 0
    assert summary["mis_mean"] == pytest.approx(1 - summary["cov_precision_mean"])
    assert (out / "coverage_curves.png").stat().st_size > 1000 and (out / "per_molecule.csv").exists()
    # the same references straight from the cache folder (its test split) pair by name
    out2 = tmp_path / "report2"
    main(["evaluate", "-g", str(gen), "-r", nci_xtb("qm9")[0], "-d", "0.5", "--out", str(out2), "--quiet"])
    summary2 = json.loads((out2 / "summary.json").read_text())
    assert summary2["cov_recall_mean"] == pytest.approx(summary["cov_recall_mean"])
    assert summary2["n_failed"] == len(load_split(nci_xtb("qm9")[1])["test"]) - 4  # listed, not dropped
    assert {f["reason"] for f in summary2["failed_molecules"]} == {"not_generated"}


def test_optimize_with_mmff(tmp_path):
    gen = tmp_path / "gen.sdf"
    assert main(["generate", "CCCCO", "-n", "2", "-o", str(gen)]) == 0
    out = tmp_path / "opt.sdf"
    assert main(["optimize", str(gen), "-o", str(out)]) == 0
    from rdkit.Chem import AllChem
    before, after = _records(gen), _records(out)
    assert len(after) == 2
    energy = lambda m: AllChem.MMFFGetMoleculeForceField(m, AllChem.MMFFGetMoleculeProperties(m)).CalcEnergy()
    assert all(energy(a) < energy(b) for a, b in zip(after, before))


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "rdkit" in out and "(default)" in out


def test_evaluate_a_model_on_a_reference_set(tmp_path):
    """The RDKit baseline through the same code: 2x references generated, then evaluated."""
    _, ref, cache, names = _export_references(tmp_path, 3)
    out = tmp_path / "baseline"
    assert main(["evaluate", "--model", "rdkit", "-r", str(ref), "-d", "0.5", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_molecules"] == 3 and summary["n_generated_conformers"] == 2 * summary["n_reference_conformers"]
    generation = json.loads((out / "generation.json").read_text())
    assert generation["model"] == "rdkit" and generation["conformers"] == summary["n_generated_conformers"]
    assert len(_records(out / "generated.sdf")) == summary["n_generated_conformers"]
    assert main(["evaluate", "-r", str(ref), "--out", str(out)]) == 2  # neither --generated nor --model


def test_untrained_learned_model_is_refused(capsys):
    assert main(["generate", "CCO", "--model", "dmcg-no-lp"]) == 2
    assert "no shipped checkpoint" in capsys.readouterr().err
