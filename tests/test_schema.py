"""The config schema's enums stay in step with optax, nevergrad and eegfit's own registries."""

import inspect
from pathlib import Path

import nevergrad as ng
import optax
import pytest
import yaml

from eegfit import features
from eegfit.simulate import INTEGRATORS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
BACKENDS = SCHEMA["properties"]["backends"]["properties"]
# optax aliases taking a learning rate that the grad backend cannot drive as a plain update, or
# that optax deprecates (optimistic_adam):
NOT_PLAIN = {"lbfgs", "noisy_sgd", "scale_by_learning_rate", "scale_by_rprop",
             "optimistic_adam", "optimistic_adam_v2"}


def optax_learning_rate_aliases() -> set[str]:
    names = set()
    for name in dir(optax):
        obj = getattr(optax, name)
        if name.startswith("_") or isinstance(obj, type) or not callable(obj):
            continue
        try:
            params = list(inspect.signature(obj).parameters)
        except (TypeError, ValueError):
            continue
        if params[:1] == ["learning_rate"]:
            names.add(name)
    return names - NOT_PLAIN


def test_grad_optimizer_enum_matches_optax():
    enum = set(BACKENDS["grad"]["properties"]["optimizer"]["enum"])
    assert enum == optax_learning_rate_aliases()
    for name in enum:
        transform = getattr(optax, name)(0.1)
        assert hasattr(transform, "init") and hasattr(transform, "update"), name


def test_nevergrad_optimizer_enum_matches_registry():
    enum = BACKENDS["nevergrad"]["properties"]["optimizer"]["enum"]
    assert sorted(enum) == sorted(ng.optimizers.registry)


def test_feature_enums_match_eegfit():
    assert set(SCHEMA["properties"]["feature"]["properties"]["name"]["enum"]) == set(
        features.FEATURES)
    landscape = SCHEMA["properties"]["landscape"]["properties"]["features"]["items"]["enum"]
    assert set(landscape) == set(features.FEATURES)
    assert set(features.UNITS) == set(features.FEATURES)


def test_integrator_enum_matches_simulate():
    assert tuple(SCHEMA["properties"]["simulation"]["properties"]["integrator"]["enum"]) == \
        INTEGRATORS


@pytest.mark.parametrize("path", ["config/config.yaml", ".test/config.yaml"])
def test_shipped_configs_validate(path):
    from snakemake.utils import validate

    config = yaml.safe_load((ROOT / path).read_text())
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
