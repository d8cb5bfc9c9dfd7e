"""The GEOM-like reference-set builder: its output is read back by the GEOM loader unchanged."""
import importlib.util
import json
import os
import pickle

import numpy as np
import pytest
from rdkit import Chem

from conformers.cli.main import main
from conformers.data import MoleculeCache, load_molecule, prepare, read_summary
from conformers.data.build import BuildSettings, build, build_molecule

# What a GEOM rdkit_folder pickle holds (and what ../shared/data/nci-xtb holds).
GEOM_KEYS = {"conformers", "uniqueconfs", "totalconfs", "smiles", "lowestenergy", "temperature", "charge"}
CONFORMER_KEYS = {"rd_mol", "boltzmannweight", "totalenergy", "relativeenergy", "degeneracy"}
SUMMARY_KEYS = {"charge", "lowestenergy", "method", "name", "pickle_path", "temperature", "totalconfs", "uniqueconfs"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("built"))
    molecules = [("aspirin", "CC(=O)Oc1ccccc1C(=O)O"), ("butanol", "CCCCO"), ("bad", "C1CC"),
                 ("hydrogen", "[H][H]"), ("big", "C" * 30), ("salt", "CC(=O)[O-].[Na+]")]
    settings = BuildSettings(num_seeds=6, max_heavy_atoms=25)
    report = build(molecules, out, "drugs", settings, workers=2, progress=False)
    return out, report, settings


def test_layout_and_loader_round_trip(built):
    out, report, _ = built
    assert report["built"] == 2 and report["failed"] == 4
    reasons = {f["name"]: f["reason"] for f in report["failures"]}
    assert reasons == {"bad": "invalid_smiles", "hydrogen": "no_heavy_atoms", "big": "too_large",
                       "salt": "disconnected"}
    summary = read_summary(out, "drugs")
    assert set(summary) == {"CC(=O)Oc1ccccc1C(=O)O", "CCCCO"}
    for smiles, entry in summary.items():
        assert set(entry) == SUMMARY_KEYS
        with open(os.path.join(out, entry["pickle_path"]), "rb") as handle:
            data = pickle.load(handle)
        assert set(data) == GEOM_KEYS and data["uniqueconfs"] == len(data["conformers"])
        for conf in data["conformers"]:
            assert set(conf) == CONFORMER_KEYS
            assert conf["rd_mol"].GetNumAtoms() == Chem.AddHs(Chem.MolFromSmiles(smiles)).GetNumAtoms()
        weights = [c["boltzmannweight"] for c in data["conformers"]]
        assert weights == sorted(weights, reverse=True) and sum(weights) == pytest.approx(1.0)
        assert sum(c["degeneracy"] for c in data["conformers"]) <= data["totalconfs"]
        mol = load_molecule(out, smiles, entry)
        assert mol.num_conformers == data["uniqueconfs"] and not mol.quirks
    cache = str(os.path.join(out, "cache"))
    assert prepare(out, "drugs", cache, workers=1, progress=False)["molecules_kept"] == 2
    assert len(MoleculeCache(cache)) == 2


def test_duplicates_removed_by_symmetric_rmsd(built):
    out, _, settings = built
    mol = load_molecule(out, "CCCCO", read_summary(out, "drugs")["CCCCO"])
    import torch
    import conformer_kernels as ck
    X = torch.tensor(mol.positions())
    rmsd = ck.rmsd_matrix(X, X, ck.automorphisms(Chem.RemoveHs(mol.mol)))
    off = rmsd[~torch.eye(len(X), dtype=torch.bool)]
    assert off.numel() == 0 or float(off.min()) >= settings.rmsd_threshold


def test_resume_skips_finished_molecules(built):
    out, _, settings = built
    path = os.path.join(out, "drugs", "aspirin.pickle")
    before = os.stat(path).st_mtime_ns
    report = build([("aspirin", "CC(=O)Oc1ccccc1C(=O)O"), ("ethanol", "CCO")], out, "drugs", settings,
                   workers=1, progress=False)
    assert os.stat(path).st_mtime_ns == before and report["built"] == 2  # aspirin kept, ethanol added
    assert set(read_summary(out, "drugs")) == {"CC(=O)Oc1ccccc1C(=O)O", "CCO"}


def test_time_budget_stops_starting_molecules(tmp_path):
    report = build([(f"m{i}", "C" * (i + 1) + "O") for i in range(6)], str(tmp_path), "qm9", BuildSettings(num_seeds=2),
                   workers=1, time_budget=0.0, progress=False)
    assert report["built"] + report["not_started_time_budget"] == 6 and report["not_started_time_budget"] >= 4


@pytest.mark.skipif(importlib.util.find_spec("tblite") is None, reason="GFN2-xTB needs `pip install tblite`")
def test_xtb_method_optimizes_to_a_minimum():
    data = build_molecule("CCO", BuildSettings(method="xtb", num_seeds=2))
    assert data["lowestenergy"] < -11.0  # GFN2-xTB total energy of ethanol, Hartree (about -11.4)
    from tblite.interface import Calculator
    conf = data["conformers"][0]["rd_mol"]
    numbers = np.array([a.GetAtomicNum() for a in conf.GetAtoms()])
    calc = Calculator("GFN2-xTB", numbers, conf.GetConformer().GetPositions() / 0.52917721067)
    calc.set("verbosity", 0)
    assert np.abs(calc.singlepoint().get("gradient")).max() < 2e-4  # converged to max force 1e-4
    assert set(data["conformers"][0]) == CONFORMER_KEYS | {"xtb"}  # as ../shared/data/nci-xtb stores
    assert set(data["conformers"][0]["xtb"]) == {"homo_eV", "lumo_eV", "gap_eV", "dipole_D"}
    assert data["conformers"][0]["xtb"]["gap_eV"] > 0


def test_cli_build(tmp_path, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("SMILES name\nCCO ethanol\nnot_a_smiles broken\n")
    out = str(tmp_path / "out")
    assert main(["data", "build", "--smiles", str(smi), "--out", out, "--subset", "qm9", "--seeds", "3",
                 "--workers", "1", "--quiet"]) == 1  # one molecule failed: the exit status says so
    captured = capsys.readouterr()
    assert "broken" in captured.err and "invalid_smiles" in captured.err
    with open(os.path.join(out, "summary_qm9.json")) as handle:
        assert list(json.load(handle)) == ["CCO"]


def test_embed_timeout_fails_a_molecule_etkdg_cannot_embed_with_its_reason():
    # a strained tricycle ETKDG never embeds with this stereo: without a bound it tries for ~30 s
    from conformers.data.geom import SkippedMolecule

    with pytest.raises(SkippedMolecule) as caught:
        build_molecule("CC1=CC[C@]23CC[C@@]12C3", BuildSettings(num_seeds=2, embed_timeout=1))
    assert caught.value.reason == "embedding_failed" and "within 1 s" in caught.value.detail
    with pytest.raises(ValueError, match="embed_timeout"):
        BuildSettings(embed_timeout=0)
