"""ConfGF (Shi et al., ICML 2021): learning gradient fields of interatomic distances for conformer
generation by annealed Langevin dynamics."""
from .model import ConfGF
from .sampler import LangevinSampler

__all__ = ["ConfGF", "LangevinSampler"]
