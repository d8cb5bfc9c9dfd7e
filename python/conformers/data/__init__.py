"""Everything between molecules and a model's batch: featurization, GEOM loaders, splits, the
on-disk cache, ragged batching, and a GEOM-like reference-set builder."""
from .batch import EDGE_SETS, Batch, Collater, ConformerDataset, collate
from .cache import MoleculeCache, prepare
from .features import MolGraph, featurize, full_graph
from .geom import GeomMolecule, Selection, SkippedMolecule, leakage_key, load_molecule, read_summary
from .split import check_leakage, load_split, make_split, save_split

__all__ = ["Batch", "Collater", "ConformerDataset", "EDGE_SETS", "GeomMolecule", "MolGraph", "MoleculeCache",
           "Selection", "SkippedMolecule", "check_leakage", "collate", "featurize", "full_graph", "leakage_key",
           "load_molecule", "load_split", "make_split", "nci_xtb", "prepare", "read_summary", "save_split"]

import os as _os

# The repository's processed training set (data/nci-xtb, rebuilt by data/nci-xtb/rebuild.sh).
NCI_XTB = _os.path.normpath(_os.path.join(_os.path.dirname(__file__), "..", "..", "..", "data", "nci-xtb"))


def nci_xtb(subset: str) -> tuple[str, str]:
    """(cache dir, split file) of the repository's nci-xtb set; subset 'qm9' or 'drugs'."""
    cache = _os.path.join(NCI_XTB, subset)
    if not _os.path.isdir(cache):
        raise FileNotFoundError(f"no nci-xtb cache at {cache}: it ships in the repository checkout "
                                "(data/nci-xtb); rebuild with data/nci-xtb/rebuild.sh")
    return cache, _os.path.join(cache, "split.json")
