"""A small fake GEOM rdkit_folder release, written on the fly in exactly the released layout, with
one molecule per known quirk."""
from __future__ import annotations

import json
import os
import pickle

from rdkit import Chem
from rdkit.Chem import AllChem

HARTREE_KCAL = 627.509474


def _conformers(smiles, n, seed=11):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    ids = list(AllChem.EmbedMultipleConfs(mol, n, params))
    out = []
    for i in ids:
        one = Chem.Mol(mol)
        one.RemoveAllConformers()
        one.AddConformer(Chem.Conformer(mol.GetConformer(i)), assignId=True)
        out.append(one)
    return out


def _entry(rd_mol, weight, energy):
    conf = {"rd_mol": rd_mol, "totalenergy": energy}
    if weight is not None:
        conf["boltzmannweight"] = weight
    return conf


def _renumbered(rd_mol):
    order = list(range(rd_mol.GetNumAtoms()))[::-1]
    return Chem.RenumberAtoms(rd_mol, order)


# SMILES -> expected outcome, used by the tests.
NORMAL = "CC(=O)Oc1ccccc1C(=O)O"
MISMATCH = "CCCCO"
NO_WEIGHTS = "CCN(CC)CC"
DISCONNECTED = "CCO.O"
GRAPH_CHANGED = "OCCCC(=O)O"
CORRUPT = "c1ccncc1"
MISSING = "CCOC(C)=O"
REORDERED = "CC(C)Cc1ccccc1"


def write_release(root: str, subset: str = "drugs") -> dict:
    """Write summary_<subset>.json + <subset>/*.pickle under root; returns the summary."""
    os.makedirs(os.path.join(root, subset), exist_ok=True)
    molecules = {}
    confs = _conformers(NORMAL, 3)
    molecules[NORMAL] = {"conformers": [_entry(c, w, -50.0 - 0.001 * k) for k, (c, w) in
                                        enumerate(zip(confs, [0.2, 0.5, 0.3]))], "uniqueconfs": 3}
    confs = _conformers(MISMATCH, 2)
    molecules[MISMATCH] = {"conformers": [_entry(c, 0.5, -20.0) for c in confs], "uniqueconfs": 5}
    confs = _conformers(NO_WEIGHTS, 2)
    molecules[NO_WEIGHTS] = {"conformers": [_entry(confs[0], None, -30.0),
                                            _entry(confs[1], None, -30.0 + 1.0 / HARTREE_KCAL)], "uniqueconfs": 2}
    molecules[DISCONNECTED] = {"conformers": [_entry(c, 1.0, -10.0) for c in _conformers("CCO", 1)],
                               "uniqueconfs": 1}
    good, reacted = _conformers(GRAPH_CHANGED, 1), _conformers("O=C1CCCO1", 1)  # lactonised
    molecules[GRAPH_CHANGED] = {"conformers": [_entry(good[0], 0.7, -25.0), _entry(reacted[0], 0.3, -24.9)],
                                "uniqueconfs": 2}
    confs = _conformers(REORDERED, 2)
    molecules[REORDERED] = {"conformers": [_entry(confs[0], 0.6, -40.0), _entry(_renumbered(confs[1]), 0.4, -39.99)],
                            "uniqueconfs": 2}
    summary = {}
    for k, (smiles, data) in enumerate(sorted(molecules.items())):
        name = f"mol{k}"
        data.update(smiles=smiles, temperature=298.15, charge=0, lowestenergy=-1.0, totalconfs=10)
        rel = f"{subset}/{name}.pickle"
        with open(os.path.join(root, rel), "wb") as handle:
            pickle.dump(data, handle)
        summary[smiles] = {"uniqueconfs": data["uniqueconfs"], "totalconfs": 10, "pickle_path": rel,
                           "charge": 0, "temperature": 298.15, "lowestenergy": -1.0, "name": name}
    with open(os.path.join(root, f"{subset}/corrupt.pickle"), "wb") as handle:
        handle.write(pickle.dumps({"conformers": [], "uniqueconfs": 1})[:9])  # truncated download
    summary[CORRUPT] = {"uniqueconfs": 1, "pickle_path": f"{subset}/corrupt.pickle"}
    summary[MISSING] = {"uniqueconfs": 1, "pickle_path": f"{subset}/missing.pickle"}
    with open(os.path.join(root, f"summary_{subset}.json"), "w") as handle:
        json.dump(summary, handle)
    return summary
