"""ConfVAE (Xu et al., ICML 2021): a conditional VAE over distances with differentiable distance
geometry. """
from .distance_geometry import distance_geometry, dg_energy, dg_gradient
from .model import ConfVAE

__all__ = ["ConfVAE", "dg_energy", "dg_gradient", "distance_geometry"]
