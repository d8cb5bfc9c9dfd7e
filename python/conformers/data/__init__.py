"""Everything between molecules and a model's batch: featurization, GEOM loaders, splits, the
on-disk cache, ragged batching, and a GEOM-like reference-set builder."""
from .batch import EDGE_SETS, Batch, Collater, ConformerDataset, collate
from .cache import MoleculeCache, prepare
from .features import MolGraph, featurize, full_graph
from .geom import GeomMolecule, Selection, SkippedMolecule, leakage_key, load_molecule, read_summary
from .split import check_leakage, load_split, make_split, save_split

__all__ = ["Batch", "Collater", "ConformerDataset", "EDGE_SETS", "GeomMolecule", "MolGraph", "MoleculeCache",
           "Selection", "SkippedMolecule", "check_leakage", "collate", "featurize", "full_graph", "leakage_key",
           "load_molecule", "load_split", "make_split", "prepare", "read_summary", "save_split"]
