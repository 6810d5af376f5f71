"""The packages' public names are imported on first use: reading NetCDF and drawing (the
figures job) does not import JAX, and every public name still resolves to what the eager
imports gave (``eegfit.simulate`` the function, not its module)."""

import subprocess
import sys

import pytest


def run(code: str) -> str:
    """``code`` in a fresh interpreter (this one has imported JAX already); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def test_io_and_plots_do_not_import_jax():
    out = run("import sys, eegfit.io, eegfit.plots\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('jax', 'optax', 'nevergrad', 'blackjax')))")
    assert out == "[]"


@pytest.mark.parametrize("package", ["eegfit", "eegfit.infer"])
def test_every_public_name_resolves(package):
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018


def test_simulate_is_the_function_however_imported():
    # The submodule loaded first (as any model or fit does), then the package's name.
    out = run("import eegfit.simulate as a\nimport importlib\n"
              "importlib.import_module('eegfit.simulate')\nfrom eegfit import simulate\n"
              "import eegfit\nprint(callable(simulate), type(simulate).__name__, "
              "eegfit.simulate is simulate, type(a).__name__)")
    assert out == "True function True function"


def test_submodules_resolve_as_attributes():
    out = run("import eegfit\nprint(eegfit.models.JansenRit.__name__, "
              "eegfit.signal.likelihood.__name__)")
    assert out == "JansenRit eegfit.signal.likelihood"
