"""Training: config files with overrides, the resumable engine, torch.distributed data parallelism."""
from .config import DEFAULTS, load_config
from .engine import Trainer, lr_lambda, train

__all__ = ["DEFAULTS", "Trainer", "load_config", "lr_lambda", "train"]
