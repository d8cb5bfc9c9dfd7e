"""Stereo repair on random stereoisomers: whatever the repair returns is right, keeps every bond
length, and puts no turned atom on top of another; what it refuses stays refused by name (None)."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from rdkit import Chem
from rdkit.Chem import AllChem
from rdkit.Chem.EnumerateStereoisomers import EnumerateStereoisomers, StereoEnumerationOptions

from conformers.metrics.stereo import stereo_matches, wrong_stereo_elements
from conformers.stereo_repair import MIN_REPAIRED_DISTANCE, repaired

from .strategies import STEREO

# molecules with several stereo elements: centres on and off rings, ring fusions, double bonds
BASES = STEREO + ["C[C@H](O)[C@@H](N)C(=O)O", "C/C=C/[C@H](C)O", "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",
                  "C[C@@H]1CC[C@H]2CCCC[C@@H]2C1", "C/C(F)=C(/Cl)[C@@H](N)CC", "N[C@@H](Cc1ccccc1)C(=O)N[C@@H](C)C(=O)O"]


def _isomers(smiles: str) -> list:
    mol = Chem.MolFromSmiles(smiles)
    options = StereoEnumerationOptions(onlyUnassigned=False, unique=True, maxIsomers=16)
    return [Chem.MolToSmiles(m) for m in EnumerateStereoisomers(mol, options=options)]


@given(st.sampled_from(BASES), st.integers(0, 15), st.integers(0, 15), st.integers(0, 1000))
def test_repairs_are_right_and_rigid(base, want, draw, seed):
    isomers = _isomers(base)
    template = Chem.MolFromSmiles(isomers[want % len(isomers)])
    sample = Chem.MolFromSmiles(isomers[draw % len(isomers)])
    order = sample.GetSubstructMatch(template)  # the sample's atoms in the template's order
    sample = Chem.RenumberAtoms(sample, list(order))
    mol = Chem.AddHs(sample)
    if AllChem.EmbedMolecule(mol, randomSeed=seed) != 0:
        return
    xyz = mol.GetConformer().GetPositions()
    heavy = template.GetNumAtoms()
    out = repaired(mol, template, xyz)
    if not any(wrong_stereo_elements(template, xyz[:heavy])):
        assert out is None  # nothing to repair
        return
    if out is None:
        return
    assert stereo_matches(template, out[None, :heavy])[0]
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        assert abs(np.linalg.norm(out[i] - out[j]) - np.linalg.norm(xyz[i] - xyz[j])) < 1e-6
    moved = np.flatnonzero(np.linalg.norm(out - xyz, axis=1) > 1e-9)
    hops = Chem.GetDistanceMatrix(mol)
    for i in moved:
        far = hops[i] > 2
        assert (np.linalg.norm(out[far] - out[i], axis=1) >= MIN_REPAIRED_DISTANCE).all()
