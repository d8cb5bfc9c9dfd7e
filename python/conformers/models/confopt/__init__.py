"""ConfOpt (Guan et al., ICLR 2022): energy-inspired SE(3)-equivariant conformation optimization."""
from .layers import ExtVLayer, ThreeAtomLayer, TwoAtomLayer, element_classes, pair_classes
from .model import ConfOpt

__all__ = ["ConfOpt", "ExtVLayer", "ThreeAtomLayer", "TwoAtomLayer", "element_classes", "pair_classes"]
