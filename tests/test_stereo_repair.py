"""Stereo repair: wrong centres and double bonds turned right by rotating acyclic branches."""
import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem

from conformers.generation import generate, read_inputs
from conformers.metrics.stereo import stereo_matches, wrong_stereo_elements
from conformers.models import create_model
from conformers.models.base import ConformerModel
from conformers.stereo_repair import repaired


def _embedded(smiles: str, seed: int = 7) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    return mol


def _bond_lengths(mol, xyz):
    return np.array([np.linalg.norm(xyz[b.GetBeginAtomIdx()] - xyz[b.GetEndAtomIdx()]) for b in mol.GetBonds()])


def test_inverted_centre_is_turned_back_and_nothing_else_changes():
    template = Chem.MolFromSmiles("C[C@H](O)[C@@H](N)C(=O)O")
    mol = _embedded("C[C@H](O)[C@H](N)C(=O)O")  # the same atoms, the second centre inverted
    xyz = mol.GetConformer().GetPositions()
    heavy = template.GetNumAtoms()
    assert wrong_stereo_elements(template, xyz[:heavy]) == ([3], [])
    out = repaired(mol, template, xyz)
    assert out is not None and stereo_matches(template, out[None, :heavy])[0]
    np.testing.assert_allclose(_bond_lengths(mol, out), _bond_lengths(mol, xyz), atol=1e-9)
    moved = np.linalg.norm(out - xyz, axis=1) > 1e-9
    assert not moved[[0, 1, 2, 3]].any()  # the right centre, its branch and the turned centre stay
    assert 0 < moved.sum() < mol.GetNumAtoms()


def test_wrong_double_bond_is_turned_about_its_axis():
    template = Chem.MolFromSmiles("C/C=C/C(C)O")
    mol = _embedded("C/C=C\\C(C)O")
    xyz = mol.GetConformer().GetPositions()
    assert wrong_stereo_elements(template, xyz[:6]) == ([], [1])
    out = repaired(mol, template, xyz)
    assert out is not None and stereo_matches(template, out[None, :6])[0]
    np.testing.assert_allclose(_bond_lengths(mol, out), _bond_lengths(mol, xyz), atol=1e-9)


def test_ring_fusion_centre_cannot_be_turned():
    """A bridgehead of trans-decalin has one acyclic neighbour (its hydrogen): no repair."""
    template = Chem.MolFromSmiles("C1CC[C@H]2CCCC[C@@H]2C1")
    mol = _embedded("C1CC[C@H]2CCCC[C@H]2C1")
    xyz = mol.GetConformer().GetPositions()
    assert wrong_stereo_elements(template, xyz[:10])[0]
    assert repaired(mol, template, xyz) is None


class DiastereomerModel(ConformerModel):
    """ETKDG conformers of the input with its last tetrahedral centre inverted (a diastereomer for
    inputs of two or more centres), except the first ``right`` conformers of each call: no mirror
    image makes the inverted ones right."""
    name = "diastereomer"

    def __init__(self, right: int = 0):
        super().__init__()
        self.right = right

    def sample(self, mols, n, seed=0):
        counts = [n] * len(mols) if isinstance(n, int) else list(n)
        flipped = []
        for mol in mols:
            mol = Chem.Mol(mol)
            centres = [a for a in mol.GetAtoms() if a.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED]
            centres[-1].InvertChirality()
            flipped.append(mol)
        wrong = create_model("rdkit").sample(flipped, counts, seed)
        right = create_model("rdkit").sample(mols, [self.right] * len(mols), seed) if self.right else [None] * len(mols)
        for out, good, count in zip(wrong, right, counts):
            for k in range(min(self.right, count)):
                out.GetConformer(out.GetConformers()[k].GetId()).SetPositions(good.GetConformers()[k].GetPositions())
        return wrong


def _stereo_right(result) -> bool:
    heavy = Chem.RemoveHs(result.mol)
    return bool(stereo_matches(result.input.mol, np.stack([c.GetPositions() for c in heavy.GetConformers()])).all())


def test_repairs_fill_what_new_draws_leave_short():
    """Every draw a diastereomer: after the redraws, the default policy fills the molecule with
    repairs of its dropped samples instead of failing it."""
    inputs = read_inputs(["C[C@H](O)[C@@H](N)C(=O)O", "O[C@H]1CC[C@@H](C)CC1"])
    kept = generate(inputs, DiastereomerModel(), 4, seed=0, stereo="keep")
    assert [r.stereo_wrong for r in kept] == [4, 4]
    dropped = generate(inputs, DiastereomerModel(), 4, seed=0, stereo="drop")
    assert all(r.mol is None and r.stereo_repaired == 0 for r in dropped)
    for result in generate(inputs, DiastereomerModel(), 4, seed=0):  # the default: auto = fix
        assert result.error is None and result.mol.GetNumConformers() == 4 and _stereo_right(result)
        assert result.stereo_repaired == 4 and result.stereo_dropped == result.stereo_wrong == 4 + 3 * 8
        assert not result.notes


def test_the_models_own_right_samples_come_before_repairs():
    """One right conformer per call: four rounds give the four asked for, no repair is used."""
    result, = generate(read_inputs(["C[C@H](O)[C@@H](N)C(=O)O"]), DiastereomerModel(right=1), 4, seed=0)
    assert result.mol.GetNumConformers() == 4 and _stereo_right(result)
    assert result.stereo_repaired == 0 and result.stereo_dropped == 3 + 5 + 3 + 1


def test_repairs_are_polished_with_mmff_when_asked():
    result, = generate(read_inputs(["C[C@H](O)[C@@H](N)C(=O)O"]), DiastereomerModel(), 2, seed=0, mmff=True)
    assert result.mol.GetNumConformers() == 2 and result.stereo_repaired == 2 and _stereo_right(result)
    props = AllChem.MMFFGetMoleculeProperties(result.mol)
    for conf in result.mol.GetConformers():  # at an MMFF94 minimum: a further polish barely moves it
        ff = AllChem.MMFFGetMoleculeForceField(result.mol, props, confId=conf.GetId())
        before = ff.CalcEnergy()
        ff.Minimize(maxIts=200)
        assert before - ff.CalcEnergy() < 0.5


def test_generate_command_repairs_what_dmcg_keeps_getting_wrong(tmp_path):
    """`conformers generate` as a user runs it: the shipped DMCG, which cannot see handedness, on a
    five-centre molecule gets every conformer asked for, all with the input's stereo, and says how
    many are repairs."""
    import re
    import subprocess
    import sys

    smiles, out = "C[C@@H]1CC[C@H]([C@@H](C)C(=O)O)[C@H](O)[C@@H]1N", tmp_path / "out.sdf"
    result = subprocess.run([sys.executable, "-m", "conformers.cli.main", "generate", smiles, "--model", "dmcg",
                             "-n", "8", "-o", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    mols = list(Chem.SDMolSupplier(str(out), removeHs=False))
    assert len(mols) == 8
    heavy = np.stack([Chem.RemoveHs(m).GetConformer().GetPositions() for m in mols])
    assert stereo_matches(Chem.MolFromSmiles(smiles), heavy).all()
    counts = re.search(r"(\d+) conformers with stereo unlike the input \((\d+) mirrored, (\d+) dropped and drawn again, "
                       r"(\d+) repaired to fill a shortfall", result.stderr)
    wrong, mirrored, dropped, repairs = map(int, counts.groups())
    assert wrong == mirrored + dropped and 1 <= repairs <= min(dropped, 8)
