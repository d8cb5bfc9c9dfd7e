"""conformers: 3D conformer generation with ConfOpt, DMCG, ConfGF and ConfVAE, and their evaluation."""
__version__ = "0.1.0"
