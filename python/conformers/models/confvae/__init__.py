"""ConfVAE (Xu et al., ICML 2021): a conditional VAE over distances with differentiable distance
geometry. Built so far: the unrolled distance-geometry inner loop and its hypergradient."""
from .distance_geometry import distance_geometry, dg_energy, dg_gradient

__all__ = ["dg_energy", "dg_gradient", "distance_geometry"]
