"""Package attributes imported on first use (PEP 562), so that a job which draws a figure from a
NetCDF file does not pay for JAX: ``import eegfit.io`` runs ``eegfit/__init__`` first, and an
eager ``from eegfit.fit import Fitter`` there would import JAX, optax and the models (about a
second of a figures job's five, measured in ``benchmarks/bench_sweep.py``)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def attach(package: str, names: dict[str, str]) -> None:
    """Make each public name of ``package`` (``names``: name -> the submodule, relative to
    ``package``, that defines it) import its submodule when first read, then stay cached.

    A name that is also its submodule's name (``eegfit.simulate``, the function, in the module
    ``eegfit.simulate``) keeps meaning the function: the import system binds a loaded submodule
    on its package, and the package's class puts the function there instead, as the eager
    ``from eegfit.simulate import simulate`` did."""

    def load(name: str):
        return getattr(importlib.import_module(f"{package}.{names[name]}"), name)

    class Package(types.ModuleType):
        def __getattr__(self, name: str):
            if name in names:
                value = load(name)
            elif importlib.util.find_spec(f"{package}.{name}") is not None:  # a submodule
                return importlib.import_module(f"{package}.{name}")  # binds itself
            else:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            types.ModuleType.__setattr__(self, name, value)
            return value

        def __setattr__(self, name: str, value) -> None:
            if isinstance(value, types.ModuleType) and names.get(name) == name:
                value = getattr(value, name)
            types.ModuleType.__setattr__(self, name, value)

        def __dir__(self):
            return sorted({*names, *vars(self)})

    sys.modules[package].__class__ = Package
