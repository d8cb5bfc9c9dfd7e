"""The models' floor: blocks several models share (MLPs, the GINE convolution, segment means, the
pair graph of an edge list). Models import from here, never from one another."""
from .blocks import GINEConv, mlp, segment_mean
from .graphs import PairGraph, undirected_pairs

__all__ = ["GINEConv", "PairGraph", "mlp", "segment_mean", "undirected_pairs"]
