"""Package attributes that load their submodule on first use (PEP 562), so that importing one light
submodule does not import every heavy one (torch) through the package's __init__."""
import importlib


def lazy_getattr(package: str, submodule_of: dict):
    """A module-level __getattr__ for ``package``: name -> getattr(package.submodule_of[name], name)."""
    def __getattr__(name):
        if name in submodule_of:
            return getattr(importlib.import_module(f".{submodule_of[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__
