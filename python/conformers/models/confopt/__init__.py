"""ConfOpt (Guan et al., ICLR 2022): energy-inspired SE(3)-equivariant conformation optimization."""
from .layers import TwoAtomLayer, element_classes

__all__ = ["TwoAtomLayer", "element_classes"]
