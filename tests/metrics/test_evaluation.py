"""COV/MAT/MIS semantics, the GetBestRMS cross-check, stereo fidelity, ensemble readers."""
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolAlign

from conformers.data import MoleculeCache, load_split, nci_xtb
from conformers.generation import generate, read_inputs
from conformers.metrics import (Ensemble, coverage_metrics, evaluate, evaluate_pair, read_geom, read_sdf,
                                stereo_matches)
from conformers.models import ConformerModel, create_model

from ..data import fake_geom


def test_coverage_metrics_by_hand():
    rmsd = np.array([[0.2, 1.0, 2.0],   # 2 generated x 3 references
                     [0.5, 1.5, 0.9]])
    m = coverage_metrics(rmsd, 0.5)
    assert m["cov_recall"] == pytest.approx(1 / 3)       # only reference 0 within 0.5 (0.5 counts: <=)
    assert m["mat_recall"] == pytest.approx((0.2 + 1.0 + 0.9) / 3)
    assert m["cov_precision"] == pytest.approx(1.0)      # both generated have a reference <= 0.5
    assert m["mat_precision"] == pytest.approx((0.2 + 0.5) / 2)
    assert m["mis"] == pytest.approx(0.0)
    assert coverage_metrics(rmsd, 0.49)["mis"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="non-empty"):
        coverage_metrics(np.zeros((0, 3)), 0.5)


def _heavy_ensemble(mol, key):
    heavy = Chem.RemoveHs(mol)
    coords = np.stack([c.GetPositions() for c in heavy.GetConformers()])
    template = Chem.Mol(heavy)
    template.RemoveAllConformers()
    return Ensemble(key, template, coords)


def test_matches_an_independent_getbestrms_loop():
    """COV/MAT for real molecules (drug-like test molecules of the repository's set, plus a nitro and a
    carboxylic acid) from ours and from RDKit's GetBestRMS over every pair: the same numbers."""
    cache_dir, split = nci_xtb("drugs")
    cache = MoleculeCache(cache_dir)
    smiles = load_split(split)["test"][:3]
    mols = [cache.rdkit_mol(cache.index_of(s)) for s in smiles]
    for extra in ("O=[N+]([O-])c1ccc(CC(=O)O)cc1", "OC(=O)c1ccccc1C(=O)O"):
        mh = Chem.AddHs(Chem.MolFromSmiles(extra))
        AllChem.EmbedMultipleConfs(mh, 4, randomSeed=3)
        mols.append(Chem.RemoveHs(mh))
    rdkit_model = create_model("rdkit")
    for k, ref_mol in enumerate(mols):
        template = Chem.Mol(ref_mol)
        template.RemoveAllConformers()
        generated = rdkit_model.sample([template], 2 * ref_mol.GetNumConformers(), seed=k)[0]
        gen, ref = _heavy_ensemble(generated, "m"), _heavy_ensemble(ref_mol, "m")
        ours, matrix = evaluate_pair(gen, ref, threshold=1.25)
        gen_heavy = Chem.RemoveHs(generated)
        expected = np.array([[rdMolAlign.GetBestRMS(Chem.Mol(gen_heavy, confId=g.GetId()), Chem.Mol(ref_mol, confId=r.GetId()))
                              for r in ref_mol.GetConformers()] for g in gen_heavy.GetConformers()])
        np.testing.assert_allclose(matrix, expected, atol=2e-4)
        theirs = coverage_metrics(expected, 1.25)
        for key in ("cov_recall", "cov_precision", "mis"):
            assert ours[key] == theirs[key], key
        for key in ("mat_recall", "mat_precision"):
            assert ours[key] == pytest.approx(theirs[key], abs=2e-4), key


class MirrorModel(ConformerModel):
    """ETKDG conformers reflected through a plane (chirality inverted, E/Z kept): all of them, or
    all but every ``period``-th of each call's (the 1st, the (period+1)-th, ...)."""
    name = "mirror"

    def __init__(self, period: int | None = None):
        super().__init__()
        self.period = period

    def sample(self, mols, n, seed=0):
        out = create_model("rdkit").sample(mols, n, seed)
        for mol in out:
            for k, conf in enumerate(mol.GetConformers()):
                if self.period is None or k % self.period:
                    conf.SetPositions(conf.GetPositions() * np.array([1.0, 1.0, -1.0]))
        return out


def _stereo_right(result) -> bool:
    heavy = Chem.RemoveHs(result.mol)
    coords = np.stack([c.GetPositions() for c in heavy.GetConformers()])
    return bool(stereo_matches(result.input.mol, coords).all())


def test_stereo_fidelity_and_policies():
    inputs = read_inputs(["C[C@H](N)C(=O)O", "C/C=C/C(=O)O", "CCO"])
    ok = generate(inputs, create_model("rdkit"), 3, seed=1)
    assert all(_stereo_right(result) for result in ok)
    mirrored = generate(inputs, MirrorModel(), 3, seed=1, stereo="keep")
    assert [r.stereo_wrong for r in mirrored] == [3, 0, 0]  # the centre flips; E/Z survives a reflection
    fixed = generate(inputs, MirrorModel(), 3, seed=1, stereo="fix")
    assert fixed[0].stereo_fixed == 3 and fixed[0].mol.GetNumConformers() == 3
    dropped = generate(inputs, MirrorModel(), 3, seed=1, stereo="drop")
    assert dropped[0].mol is None and "wrong stereo" in dropped[0].error and "(the last of 4 sampling rounds)" in dropped[0].error
    assert dropped[1].mol.GetNumConformers() == 3
    assert generate(inputs[:1], MirrorModel(), 3, seed=1)[0].stereo_fixed == 3  # the default: fix
    # E/Z: rotate a trans double bond to cis by hand and the check notices
    mol = ok[1].mol
    heavy = Chem.RemoveHs(mol)
    conf = heavy.GetConformer()
    from rdkit.Chem import rdMolTransforms
    rdMolTransforms.SetDihedralDeg(conf, 0, 1, 2, 3, 0.0)
    assert not stereo_matches(ok[1].input.mol, conf.GetPositions()[None])[0]


def test_dropped_conformers_are_replaced_by_new_draws():
    """Every other sample mirrored: 'drop' drops them and samples again until the molecule has the
    n conformers asked for, all with the input's stereo."""
    inputs = read_inputs(["C[C@H](N)C(=O)O", "CC[C@@H](C)O"])
    results = generate(inputs, MirrorModel(period=2), 5, seed=3, stereo="drop")
    for result in results:
        assert result.error is None and result.mol.GetNumConformers() == 5
        assert result.stereo_dropped == result.stereo_wrong > 0 and _stereo_right(result)
        assert not result.notes
    again = generate(inputs, MirrorModel(period=2), 5, seed=3, stereo="drop")  # new draws come from derived seeds
    for a, b in zip(results, again):
        assert np.array_equal(a.mol.GetConformer(4).GetPositions(), b.mol.GetConformer(4).GetPositions())
    # one right conformer per call: 4 rounds give 4 of the 5 asked for, and the shortfall is named
    short = generate(inputs[:1], MirrorModel(period=100), 5, seed=3, stereo="drop")[0]
    assert short.mol.GetNumConformers() == 4 and _stereo_right(short)
    assert "4 of 5 conformers" in short.notes[-1] and "4 sampling rounds" in short.notes[-1]


def test_read_sdf_groups_maps_and_reports(tmp_path):
    mh = Chem.AddHs(Chem.MolFromSmiles("CC(C)Cc1ccccc1"))
    AllChem.EmbedMultipleConfs(mh, 3, randomSeed=2)
    path = tmp_path / "x.sdf"
    with Chem.SDWriter(str(path)) as writer:
        mh.SetProp("_Name", "ibu")
        writer.write(mh, confId=0)
        renumbered = Chem.RenumberAtoms(Chem.Mol(mh, confId=1), list(range(mh.GetNumAtoms()))[::-1])
        renumbered.SetProp("_Name", "ibu")
        writer.write(renumbered)
        writer.write(mh, confId=2)
        other = Chem.AddHs(Chem.MolFromSmiles("CCO"))
        AllChem.EmbedMolecule(other, randomSeed=1)
        other.SetProp("_Name", "ibu")
        writer.write(other)
        other.SetProp("_Name", "")
        writer.write(other)
    with open(path, "a") as handle:
        handle.write("garbage\n\n\n  9999  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n")
    ensembles, failures = read_sdf(str(path))
    assert set(ensembles) == {"ibu", "CCO"}
    ibu = ensembles["ibu"]
    assert ibu.coordinates.shape == (3, 10, 3)
    heavy = [a.GetIdx() for a in mh.GetAtoms() if a.GetAtomicNum() > 1]
    for k in range(3):  # the renumbered record is mapped back (up to the molecule's symmetry)
        ref = mh.GetConformer(k).GetPositions()[heavy]
        assert np.allclose(np.sort(np.linalg.norm(ibu.coordinates[k] - ibu.coordinates[k].mean(0), axis=1)),
                           np.sort(np.linalg.norm(ref - ref.mean(0), axis=1)), atol=1e-3)
    assert {f["reason"] for f in failures} == {"inconsistent_records", "unreadable_record"}


def test_geom_folder_as_reference(tmp_path):
    fake_geom.write_release(str(tmp_path))
    refs, failures = read_geom(str(tmp_path))
    assert {f["reason"] for f in failures} == {"disconnected", "corrupt_file", "missing_file"}
    ref = next(e for e in refs.values() if e.skeleton == Chem.MolToSmiles(Chem.MolFromSmiles(fake_geom.NORMAL)))
    gen = read_inputs([fake_geom.NORMAL])
    sampled = create_model("rdkit").sample([gen[0].mol], 6, seed=0)[0]
    result = evaluate({"aspirin": _heavy_ensemble(sampled, "aspirin")}, refs, 1.25, read_failures=failures)
    assert result.summary["n_molecules"] == 1  # paired by SMILES: the title is not a GEOM name
    assert result.per_molecule[0]["n_reference"] == 3
    assert result.summary["n_failed"] == 3 + len(refs) - 1


class HeavyOnlyModel(ConformerModel):
    """Returns heavy-atom conformers, as the learned models do."""
    name = "heavy-only"

    def sample(self, mols, n, seed=0):
        return [Chem.RemoveHs(m) for m in create_model("rdkit").sample(mols, n, seed)]


def test_hydrogens_are_added_without_moving_heavy_atoms():
    inputs = read_inputs(["CC(=O)Nc1ccc(O)cc1"])
    model = HeavyOnlyModel()
    expected = model.sample([inputs[0].mol], 3, seed=4)[0]
    result = generate(inputs, model, 3, seed=4)[0]
    assert result.mol.GetNumAtoms() == Chem.AddHs(inputs[0].mol).GetNumAtoms()
    heavy = [a.GetIdx() for a in result.mol.GetAtoms() if a.GetAtomicNum() > 1]
    for a, b in zip(result.mol.GetConformers(), expected.GetConformers()):
        np.testing.assert_allclose(a.GetPositions()[heavy], b.GetPositions(), atol=1e-9)
        h = [x.GetIdx() for x in result.mol.GetAtoms() if x.GetAtomicNum() == 1]
        assert np.isfinite(a.GetPositions()[h]).all() and np.abs(a.GetPositions()[h]).sum() > 0


@pytest.mark.parametrize("smiles, mirror_matches", [("C1CC2CCC1C2", True),            # norbornane: achiral
                                                    ("C[C@H]1CCCC[C@H]1C", True),     # cis: meso
                                                    ("C[C@H]1CCCC[C@@H]1C", False),   # trans: chiral
                                                    ("C[C@H](N)C(=O)O", False)])      # L-alanine
def test_a_mirror_image_matches_only_when_it_is_the_same_molecule(smiles, mirror_matches):
    """The mirror image of an achiral molecule swaps the tags of symmetric stereo atoms and is
    still the template's stereo; the mirror image of a chiral one never is."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=3)
    heavy = Chem.RemoveHs(mol)
    xyz = heavy.GetConformer().GetPositions()
    template = Chem.MolFromSmiles(smiles)
    assert stereo_matches(template, xyz[None])[0]
    assert stereo_matches(template, (xyz * [1, 1, -1])[None])[0] == mirror_matches


def test_references_holding_both_enantiomers_specify_no_stereo_there():
    """An SDF written from a SMILES that left a centre open holds both enantiomers under one title;
    the first record's tags are not the ensemble's stereo. Centres every reference shares stay."""
    from conformers.metrics import shared_stereo, stereo_elements

    mol = Chem.AddHs(Chem.MolFromSmiles("C[C@@H]1CCCNC1"))
    AllChem.EmbedMolecule(mol, randomSeed=3)
    heavy = Chem.RemoveHs(mol)
    xyz = heavy.GetConformer().GetPositions()
    both = np.stack([xyz, xyz * [1, 1, -1]])
    assert stereo_elements(shared_stereo(heavy, both)) == ([], [])
    assert stereo_elements(shared_stereo(heavy, both[:1])) == stereo_elements(heavy)


def test_a_molecule_whose_generation_failed_is_counted_once():
    sampled = create_model("rdkit").sample([Chem.MolFromSmiles("CCO")], 2, seed=0)[0]
    references = {"ethanol": _heavy_ensemble(sampled, "ethanol")}
    failed = [{"key": "ethanol", "reason": "generation_failed", "detail": "every conformer had the wrong stereo"}]
    result = evaluate({}, references, 0.5, read_failures=failed)
    assert result.failures == failed
    assert [f["reason"] for f in evaluate({}, references, 0.5).failures] == ["not_generated"]


def test_a_molecule_the_kernels_refuse_fails_alone():
    """Coordinates whose squares overflow: that molecule is reported (not read as RMSD 0), the
    other molecules of its rmsd_matrices chunk are still evaluated."""
    from conformers.metrics.ensembles import Ensemble

    rng = np.random.default_rng(0)
    ethanol, amine = Chem.MolFromSmiles("CCO"), Chem.MolFromSmiles("CCN")
    generated = {"ok": Ensemble("ok", ethanol, rng.normal(size=(4, 3, 3))),
                 "huge": Ensemble("huge", amine, rng.normal(size=(4, 3, 3)) * 1e200)}
    references = {"ok": Ensemble("ok", ethanol, rng.normal(size=(3, 3, 3))),
                  "huge": Ensemble("huge", amine, rng.normal(size=(3, 3, 3)) * 1e200)}
    result = evaluate(generated, references, 0.5, stereo=False)
    assert [m["molecule"] for m in result.per_molecule] == ["ok"]
    assert [(f["key"], f["reason"]) for f in result.failures] == [("huge", "error")]
    assert "too large" in result.failures[0]["detail"]
