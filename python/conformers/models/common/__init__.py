"""The models' floor: blocks several models share (MLPs, the GINE convolution, segment means, local-geometry loss terms) and
the typed graph views they read (the bond graph, the extended pair graph, the pair graph of an edge
list). Models import from here, never from one another."""
from .blocks import GINEConv, mlp, segment_mean
from .geometry import bond_angles, local_geometry_errors
from .graphs import BondGraph, ExtendedPairGraph, PairGraph, undirected_pairs

__all__ = ["BondGraph", "ExtendedPairGraph", "GINEConv", "PairGraph", "bond_angles", "local_geometry_errors", "mlp",
           "segment_mean", "undirected_pairs"]
