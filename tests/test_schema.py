"""The config schema: its enums stay in step with optax, nevergrad and eegfit's own registries, it
holds no defaults (they live in the experiments' specs), and the shipped configs pass both it
and the specs."""

import copy
import inspect
import re
from pathlib import Path

import nevergrad as ng
import optax
import pytest
import yaml

from eegfit import experiments
from eegfit.fit.grad import optax_optimizer
from eegfit.signal import features
from eegfit.simulate import INTEGRATORS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
DEFS = SCHEMA["$defs"]
SHIPPED = ["config/config.yaml", ".test/config.yaml", "config/network_delays.yaml",
           ".test/retry_above.yaml"]
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
    enum = set(DEFS["grad"]["properties"]["optimizer"]["enum"])
    assert enum == optax_learning_rate_aliases()
    for name in enum:
        transform = optax_optimizer(name)(0.1)  # what the grad spec accepts
        assert hasattr(transform, "init") and hasattr(transform, "update"), name


def test_nevergrad_optimizer_enum_matches_registry():
    enum = DEFS["nevergrad"]["properties"]["optimizer"]["enum"]
    assert sorted(enum) == sorted(ng.optimizers.registry)


def test_integrator_enum_matches_simulate():
    assert tuple(DEFS["simulation"]["properties"]["integrator"]["enum"]) == INTEGRATORS


def _shipped(path: str) -> dict:
    return yaml.safe_load((ROOT / path).read_text())


def _block(path: str, kind: str) -> tuple[str, dict]:
    """The name and block (a deep copy) of the first experiment of ``kind`` in a shipped config."""
    blocks = _shipped(path)["experiments"]
    return copy.deepcopy(next((n, b) for n, b in blocks.items() if b["kind"] == kind))


def test_feature_registry_is_what_the_specs_accept():
    """No feature enum in the schema any more: the registry's names are the features the specs
    accept, trace features for a column, spectrum features for a recording, and no other."""
    assert set(features.TRACE_FEATURES) | set(features.SPECTRUM_FEATURES) == set(
        features.FEATURES)
    assert not set(features.TRACE_FEATURES) & set(features.SPECTRUM_FEATURES)
    for name, entry in features.FEATURES.items():
        assert entry.units and entry.long_name and entry.reads in ("trace", "spectrum"), name
    (c, column), (r, recording) = (_block(".test/config.yaml", "column"),
                                   _block("config/config.yaml", "recording"))
    required = {"relative_power": {"bands": {"alpha": [8, 13]}}}
    for name in features.FEATURES:
        column["features"] = {name: {}}
        recording["features"] = {name: required.get(name, {})}
        if name in features.TRACE_FEATURES:
            assert set(experiments.build(c, column).spec.features) == {name}
            with pytest.raises(ValueError, match=f"experiments.{r}.features.{name}"):
                experiments.build(r, recording)
        else:
            assert set(experiments.build(r, recording).spec.features) == {name}
            with pytest.raises(ValueError, match=f"experiments.{c}.features.{name}"):
                experiments.build(c, column)
    column["features"] = {"loudness": {}}
    with pytest.raises(ValueError, match="unknown feature 'loudness'"):
        experiments.build(c, column)


def _keys(tree):
    """Every mapping key anywhere in a parsed YAML tree."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield key
            yield from _keys(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _keys(value)


def test_schema_holds_no_default():
    """Every default lives in the specs: a ``default:`` here would be a second, silent one."""
    assert "default" not in set(_keys(SCHEMA))
    # nor in the text (a flow mapping, a comment that reads like one)
    assert not re.search(r"\bdefault\s*:", SCHEMA_PATH.read_text())


@pytest.mark.parametrize("path", SHIPPED)
def test_validation_leaves_the_config_as_it_was(path):
    """Snakemake's validate fills in defaults (set_default=True); with none in the schema the
    config reaching the specs is the one written."""
    from snakemake.utils import validate

    config = _shipped(path)
    before = copy.deepcopy(config)
    validate(config, str(SCHEMA_PATH), set_default=True)
    assert config == before


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_configs_validate(path):
    from snakemake.utils import validate

    validate(_shipped(path), str(SCHEMA_PATH))


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_configs_load(path, request):
    config = _shipped(path)
    if any(b.get("kind") in ("network", "empirical_fc") and (b.get("connectome") or {}).get(
            "source", "hcp" if b.get("kind") == "empirical_fc" else "synthetic") != "synthetic"
           for b in config["experiments"].values()):
        request.getfixturevalue("hcp_data")  # the network kinds read their connectome
    kinds = experiments.load(config)
    assert list(kinds) == list(config["experiments"])
    for name, kind in kinds.items():
        assert kind.spec.name == name and kind.spec.kind == config["experiments"][name]["kind"]
        assert kind.targets(), name


def test_shipped_schema_is_the_generators_output():
    """One source: the file is written by eegfit.experiments.schema from the declarations the
    specs read with; an edit to either side alone shows here."""
    from eegfit.experiments import schema

    assert SCHEMA_PATH.read_text() == schema.text(), (
        "rerun: python -m eegfit.experiments.schema")


def test_schema_and_spec_refuse_the_same_values():
    """A value out of a declared range: validate refuses it (naming the key), and so does the
    spec, with the key's full path; an in-range value passes both."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    for key, bad, path in (("dt_ms", 0.0, "simulation.dt_ms"),
                           ("integrator", "rk45", "simulation.integrator")):
        config = _shipped(".test/config.yaml")
        name, block = next(iter(config["experiments"].items()))
        block["simulation"][key] = bad
        with pytest.raises(WorkflowError, match=key):
            validate(config, str(SCHEMA_PATH))
        with pytest.raises(ValueError, match=rf"experiments\.{name}\.{re.escape(path)}"):
            experiments.load(config)
    config = _shipped(".test/config.yaml")
    grad = next(iter(config["experiments"].values()))["backends"]["grad"]
    grad["gradient_check"] = {"rel_step": 0.6}
    with pytest.raises(WorkflowError, match="rel_step"):
        validate(config, str(SCHEMA_PATH))
    with pytest.raises(ValueError, match=r"backends\.grad\.gradient_check\.rel_step"):
        experiments.load(config)
    grad["gradient_check"] = {"rel_step": 0.5}
    validate(config, str(SCHEMA_PATH))
    experiments.load(config)
