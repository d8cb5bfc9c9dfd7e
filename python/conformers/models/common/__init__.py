"""The models' floor: blocks several models share (MLPs, the GINE convolution, segment means) and
the typed graph views they read (the bond graph, the extended pair graph, the pair graph of an edge
list). Models import from here, never from one another."""
from .blocks import GINEConv, mlp, segment_mean
from .graphs import BondGraph, ExtendedPairGraph, PairGraph, undirected_pairs

__all__ = ["BondGraph", "ExtendedPairGraph", "GINEConv", "PairGraph", "mlp", "segment_mean", "undirected_pairs"]
