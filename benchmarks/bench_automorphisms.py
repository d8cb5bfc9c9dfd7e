"""Automorphism enumeration vs RDKit substructure self-matching, on RDKit's shipped molecules."""
import os

import rdkit
from rdkit import Chem, RDLogger

import conformer_kernels as ck

from .conftest import ratio

RDLogger.DisableLog("rdApp.*")
_DIR = os.path.dirname(rdkit.__file__)


def molecules():
    egfr = [Chem.RemoveHs(m) for m in Chem.SDMolSupplier(os.path.join(_DIR, "Contrib/PBF/testData/egfr.sdf"))]
    with open(os.path.join(_DIR, "Data/NCI/first_5K.smi")) as handle:
        nci = [Chem.MolFromSmiles(line.split()[0]) for line in list(handle)[:500]]
    # Leave out the one 589,824-automorphism molecule: it measures the cap, not the search.
    return [m for m in egfr + nci if m is not None and m.GetNumAtoms() and len(ck.automorphisms(m, max_count=20_000)) < 20_000]


MOLS = molecules()


def test_ours(record):
    record("ours", lambda: [ck.automorphisms(m, symmetrize_conjugated_terminal_groups=False) for m in MOLS])


def test_rdkit_substruct(record):
    record("rdkit", lambda: [m.GetSubstructMatches(m, uniquify=False, useChirality=False, maxMatches=10**6) for m in MOLS])


def test_report():
    """No target (the issue sets none): one-time per-molecule work, reported for the record.
    Ours includes reading the Mol from Python (most of its time on these small molecules)."""
    print(f"\nautomorphisms on {len(MOLS)} molecules: ours / RDKit GetSubstructMatches time = "
          f"{1 / ratio('rdkit', 'ours'):.2f}")
