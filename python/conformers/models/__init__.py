"""Conformer generators behind one interface and a registry: rdkit today; ConfOpt, DMCG, ConfGF and
ConfVAE register themselves here as they land."""
from . import rdkit_baseline  # noqa: F401  (registers rdkit, rdkit-mmff)
from .confopt import model as _confopt  # noqa: F401  (registers confopt, confopt-generation)
from .dmcg import model as _dmcg  # noqa: F401  (registers dmcg, dmcg-no-lp)
from .confgf import model as _confgf  # noqa: F401  (registers confgf)
from .confvae import model as _confvae  # noqa: F401  (registers confvae, confvae-minus)
from .base import (ConformerModel, DataSpec, available, create_model, import_plugin, load_model, model_settings,
                   read_checkpoint, register, save_checkpoint)

from ..defaults import DEFAULT_MODEL

__all__ = ["ConformerModel", "DataSpec", "DEFAULT_MODEL", "available", "create_model", "import_plugin", "load_model",
           "model_settings", "read_checkpoint", "register", "save_checkpoint"]
