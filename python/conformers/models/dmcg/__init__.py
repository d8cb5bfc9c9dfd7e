"""DMCG (Zhu et al., TMLR 2022): direct molecular conformation generation with a roto-translation
and permutation invariant loss."""
from .layers import GNBlock
from .model import DMCG

__all__ = ["DMCG", "GNBlock"]
