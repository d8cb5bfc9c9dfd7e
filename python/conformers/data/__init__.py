"""Everything between molecules and a model's batch: featurization, GEOM loaders, splits, the
on-disk cache, ragged batching, and a GEOM-like reference-set builder."""
from .._lazy import lazy_getattr

# Names load their submodule on first use (PEP 562), so that reading SDF files (conformers.data.sdf)
# does not import torch: `conformers evaluate` reads its inputs while torch loads.
_SUBMODULE = {
    **dict.fromkeys(("EDGE_SETS", "Batch", "Collater", "ConformerDataset", "collate"), "batch"),
    **dict.fromkeys(("MoleculeCache", "prepare"), "cache"),
    **dict.fromkeys(("MolGraph", "featurize", "full_graph"), "features"),
    **dict.fromkeys(("GeomMolecule", "Selection", "SkippedMolecule", "leakage_key", "load_molecule", "read_summary"),
                    "geom"),
    **dict.fromkeys(("check_leakage", "load_split", "make_split", "save_split"), "split"),
}

__getattr__ = lazy_getattr(__name__, _SUBMODULE)


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
