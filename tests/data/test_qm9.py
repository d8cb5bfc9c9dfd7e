"""QM9 as a data source: qm9pack's CSV format mapped onto SMILES graphs, skipped rows counted by
reason, properties kept, the project split, and stored RDKit+MMFF starts."""
import csv
import importlib.util
import json
import os

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from conformers.data import ConformerDataset, MoleculeCache, Selection, check_leakage, load_split
from conformers.data import qm9
from conformers.data.batch import collate

COLUMNS = ["XYZ_file", "Index", "SMILES", "InChi", "N_atoms", "Stoichiometry", "Elements", "XYZ_Ang", "Mulliken_pop",
           "Harmonic_Freq_cmi", *qm9.PROPERTIES]
MOLECULES = {1: "CCO", 2: "C[C@H](N)C(=O)O", 3: "C1C2CC1C2", 4: "CC(=O)C", 5: "OCC#N", 6: "C/C=C/C"}


def _row(index, smiles, coords=None, mol=None):
    if mol is None:
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        AllChem.EmbedMolecule(mol, randomSeed=index)
        AllChem.MMFFOptimizeMolecule(mol)
    xyz = mol.GetConformer().GetPositions() if coords is None else coords
    elements = "[" + ",".join(f"'{a.GetSymbol()}'" for a in mol.GetAtoms()) + "]"
    row = {c: "" for c in COLUMNS}
    row.update({"XYZ_file": f"dsgdb9nsd_{index:06d}.xyz", "Index": index, "SMILES": smiles,
                "InChi": Chem.MolToInchi(Chem.RemoveHs(mol)), "N_atoms": mol.GetNumAtoms(), "Elements": elements,
                "XYZ_Ang": "[" + ",".join("[" + ",".join(repr(float(v)) for v in p) + "]" for p in xyz) + "]"})
    for k, name in enumerate(qm9.PROPERTIES):
        row[name] = 0.5 * k + index
    return row


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A qm9pack-format folder: six good rows in two part files, and one row of each skip reason."""
    root = tmp_path_factory.mktemp("qm9pack")
    rows = [_row(i, s) for i, s in MOLECULES.items()]
    ethanol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(ethanol, randomSeed=3)
    rows.append(_row(7, "COC", mol=ethanol))                    # the geometry is ethanol's: no mapping
    unparsable = _row(8, "CC")
    unparsable["SMILES"] = "C1CC"
    rows.append(unparsable)                                     # a SMILES RDKit cannot parse
    bad = _row(9, "CC")
    bad["XYZ_Ang"] = "[[0.0,0.0],[garbage]]"
    rows.append(bad)                                            # unparsable coordinates
    for part, chunk in (("qm9_part1.csv", rows[:4]), ("qm9_part2.csv", rows[4:])):
        with open(root / part, "w", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS, quoting=csv.QUOTE_NONNUMERIC)
            writer.writeheader()
            writer.writerows(chunk)
    split = {"train": [1, 2, 3, 4, 7, 8, 9], "val": [5], "test": [6], "seed": 0}
    (root / "split.json").write_text(json.dumps(split))
    return str(root)


@pytest.fixture(scope="module")
def cache_dir(folder, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("qm9cache"))
    qm9.prepare_qm9(folder, out, workers=2, shard_size=4, starts=3, split=os.path.join(folder, "split.json"),
                    starts_sample={"train": 3, "val": 1}, progress=False)
    return out


def test_report_counts_every_row_by_reason(cache_dir):
    report = json.load(open(os.path.join(cache_dir, "report.json")))
    assert report["rows_read"] == 9 and report["molecules_kept"] == 6
    assert report["skipped_by_reason"] == {"connectivity_mismatch": 1, "smiles_unparsable": 1, "unparsable_row": 1}
    assert {f["reason"] for f in report["failures"]} == set(report["skipped_by_reason"])


def test_geometry_maps_onto_the_graph_with_its_stereo_and_properties(cache_dir, folder):
    cache = MoleculeCache(cache_dir)
    assert sorted(cache.names) == [f"qm9_{i}" for i in sorted(MOLECULES)]
    row = next(r for r in qm9.read_rows(folder) if r["Index"] == "2")
    i = cache.names.index("qm9_2")
    mol = cache.rdkit_mol(i)
    assert Chem.MolToSmiles(mol) == Chem.MolToSmiles(Chem.MolFromSmiles("C[C@H](N)C(=O)O"))  # L-alanine from 3D
    xyz = qm9._numbers(row["XYZ_Ang"]).reshape(-1, 3)
    heavy = [k for k, e in enumerate(qm9._elements(row["Elements"])) if e != "H"]
    # every bond of the graph has the length of a real bond in the DFT geometry
    pos = cache.molecule(i)["positions"][0]
    for b in mol.GetBonds():
        assert 1.1 < np.linalg.norm(pos[b.GetBeginAtomIdx()] - pos[b.GetEndAtomIdx()]) < 1.6
    assert np.allclose(np.sort(np.linalg.norm(pos - pos.mean(0), axis=1)),
                       np.sort(np.linalg.norm(xyz[heavy] - xyz[heavy].mean(0), axis=1)), atol=1e-5)
    props = cache.info[i]["properties"]
    assert props["qm9_index"] == 2 and props["HOMO_au"] == pytest.approx(0.5 * qm9.PROPERTIES.index("HOMO_au") + 2)
    # the strained bicycle maps although its bridgeheads are 1.8-1.9 A apart
    assert "qm9_3" in cache.names


def test_split_and_stored_starts(cache_dir):
    split = load_split(os.path.join(cache_dir, "split.json"))
    check_leakage(split)
    assert len(split["train"]) == 4 and len(split["val"]) == 1 and len(split["test"]) == 1
    assert len(split["train_with_starts"]) <= 3 and len(split["val_with_starts"]) == 1
    cache = MoleculeCache(cache_dir)
    starts = cache.num_starts()
    with_starts = {cache.smiles[k] for k in np.nonzero(starts)[0]}
    assert set(split["train_with_starts"] + split["val_with_starts"]) == with_starts
    assert set(starts) <= {0, 3}
    ds = ConformerDataset.from_split(cache, split, "val_with_starts", selection=Selection("all"), mode="molecule")
    item = ds[0]
    assert item["starts"].shape == (3, len(item["atomic_numbers"]), 3)
    batch = collate([ds[0], ds[0]], ("full",))
    assert batch.starts.shape[0] == 2 * 3 * len(item["atomic_numbers"]) and batch.start_ptr.tolist()[-1] == batch.starts.shape[0]


def test_a_grown_starts_sample_adds_starts_and_keeps_the_others(folder, tmp_path):
    split_path = os.path.join(folder, "split.json")
    out = str(tmp_path / "grow")
    qm9.prepare_qm9(folder, out, workers=1, shard_size=4, starts=2, split=split_path,
                    starts_sample={"val": 1}, progress=False)
    before = MoleculeCache(out)
    first = {before.names[k]: before.molecule(k)["starts"] for k in np.nonzero(before.num_starts())[0]}
    assert len(first) == 1
    report = qm9.prepare_qm9(folder, out, workers=1, shard_size=4, starts=2, split=split_path,
                             starts_sample={"train": 7, "val": 1}, progress=False)
    after = MoleculeCache(out)
    started = {after.names[k] for k in np.nonzero(after.num_starts())[0]}
    # every kept train molecule and val's, but the bicycle ETKDG cannot embed, counted as a quirk
    assert started == {"qm9_1", "qm9_2", "qm9_4", "qm9_5"}
    name, starts = next(iter(first.items()))
    assert np.array_equal(after.molecule(after.names.index(name))["starts"], starts)  # kept, not recomputed
    assert report["molecules_kept"] == 6 and report["split"]["train"]["with_starts"] == 3
    assert report["quirks_handled"]["no_rdkit_start"] == 1
    assert json.load(open(os.path.join(out, "meta.json")))["starts_sample"] == {"train": 7, "val": 1}
    # the positions and graphs of the grown shards are the ones written first
    for k, name in enumerate(before.names):
        assert np.array_equal(after.molecule(after.names.index(name))["positions"], before.molecule(k)["positions"])


def test_cli_prepare_qm9_and_bad_folder(folder, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "c"
    cmd = [sys.executable, "-m", "conformers.cli.main", "data", "prepare", "--qm9", folder, "--out", str(out),
           "--starts", "0", "--workers", "1", "--quiet", "--split", os.path.join(folder, "split.json")]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "kept 6 molecules" in result.stdout and "connectivity_mismatch" in result.stdout
    assert "split.json: train 4 of 7" in result.stdout
    bad = subprocess.run(cmd[:6] + [str(tmp_path), "--out", str(tmp_path / "d")], capture_output=True, text=True)
    assert bad.returncode == 2 and "no QM9 CSV files" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None, reason="qm9pack not installed (pip install -e .[qm9])")
def test_real_qm9pack_rows_map():
    rows = qm9.read_rows(qm9.qm9pack_folder(), limit=300)
    kept = skipped = 0
    for row in rows:
        try:
            mol, props = qm9.molecule_from_row(row)
            kept += 1
            assert mol.GetNumConformers() == 1 and props["qm9_index"] == int(row["Index"])
        except qm9.SkippedMolecule:
            skipped += 1
    assert kept + skipped == 300 and kept >= 290
