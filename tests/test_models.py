"""The model protocol and the registry: every model fills in the protocol, is integrated by
``simulate`` in any batch, refuses a parameter outside its valid range before any simulation,
couples as it says, is taken by the column kind by name, and has a parameter recovered by both
backends from features of its observable (the library route; tests/test_models_pipeline.py runs
the same through Snakemake)."""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import yaml

from eegfit import Fitter, Param, experiments, simulate
from eegfit.models import (MODELS, ConstantDrive, ConstantInput, JansenRit, NeuralMass, Node,
                           StuartLandau, WilsonCowan, WongWang)
from eegfit.models.network import coupled
from eegfit.signal import features as sf

ROOT = Path(__file__).resolve().parents[1]

EXAMPLES = yaml.safe_load((ROOT / ".test" / "models.yaml").read_text())


def numeric_fields(model) -> list[str]:
    return [f.name for f in dataclasses.fields(model)
            if f.name != "drive" and not f.metadata.get("static", False)]


# ---- the protocol ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_fills_in_the_protocol(name):
    cls = MODELS[name]
    model = cls()
    assert isinstance(model, NeuralMass) and isinstance(model, Node)
    assert isinstance(coupled(model, [[0.0, 1.0], [1.0, 0.0]]), NeuralMass)
    assert set(cls.units) == set(numeric_fields(model)), "a unit on every field"
    assert set(cls.ranges) <= set(cls.units), "a range names a field"
    assert set(cls.state_units) == set(cls.state_names)
    assert cls.coupling_form in ("additive", "diffusive")
    assert type(model.drive) in cls.drives.values()
    assert getattr(model.drive, "unit", cls.drive_units) == cls.drive_units
    assert cls.observable_units and cls.observable_name
    model.check()  # the published constants are valid


@pytest.mark.parametrize("name", sorted(MODELS))
def test_simulate_integrates_a_batch_of_any_model(name):
    """State (n_states, *batch): a batch of two parameter sets equals each set alone."""
    cls = MODELS[name]
    field = numeric_fields(cls())[0]
    base = getattr(cls(), field)
    values = jnp.asarray([base, base * 1.01])
    sim = {"duration_ms": 50.0, "dt_ms": 0.1}
    batch = simulate(dataclasses.replace(cls(), **{field: values}), **sim).observable
    assert batch.shape == (500, 2)
    for i in range(2):
        one = simulate(dataclasses.replace(cls(), **{field: float(values[i])}), **sim).observable
        np.testing.assert_allclose(batch[:, i], one, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(batch)) and float(jnp.std(batch[:, 0])) > 0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_through_every_model_are_finite(name):
    cls = MODELS[name]
    field = numeric_fields(cls())[0]

    def amplitude(value):
        model = dataclasses.replace(cls(), **{field: value})
        return sf.rms(simulate(model, duration_ms=60.0, transient_ms=20.0).observable)
    value = jnp.asarray(float(getattr(cls(), field)))
    grad = jax.grad(amplitude)(value)
    assert np.isfinite(float(grad)) and float(grad) != 0.0


def test_coupling_enters_where_each_model_says():
    """Additive input into the drive (JR, Hz), into E's input (WC) or dx/dt (SL): the same as a
    larger drive; Wong-Wang: J_NMDA times the input into the current of E."""
    y = {JansenRit: jnp.asarray([0.1, 15.0, 8.0, 0.0, 0.0, 0.0]),
         WilsonCowan: jnp.asarray([0.2, 0.1]), StuartLandau: jnp.asarray([0.5, -0.3]),
         WongWang: jnp.asarray([0.2, 0.05])}
    for cls, state in y.items():
        model, drive, input_ = cls(), 0.3, 0.7
        coupled = model.vector_field(state, drive, input_)
        if cls is WongWang:
            shifted = dataclasses.replace(model, w_e=model.w_e + model.j_nmda * input_ / drive)
            expected = shifted.vector_field(state, drive)
        else:
            expected = model.vector_field(state, drive + input_)
        np.testing.assert_allclose(coupled, expected, rtol=1e-6, err_msg=cls.__name__)
        np.testing.assert_array_equal(model.vector_field(state, drive, None),
                                      model.vector_field(state, drive))
        assert cls.coupling_variable(model, state).shape == ()
    assert StuartLandau.coupling_form == "diffusive" and WongWang.coupling_form == "additive"


# ---- bad values: named, before any simulation ------------------------------------------------

BAD_VALUES = [
    (WilsonCowan, "tau_e", -2.5, "WilsonCowan.tau_e = -2.5 ms", "> 0"),
    (WilsonCowan, "c_ie", -1.0, "WilsonCowan.c_ie", ">= 0"),
    (WongWang, "tau_i", 0.0, "WongWang.tau_i = 0.0 ms", "> 0"),
    (WongWang, "gamma_e", 1.5, "WongWang.gamma_e", "in (0, 1]"),
    (StuartLandau, "a", math.nan, "StuartLandau.a", "finite"),
    (JansenRit, "a", -100.0, "JansenRit.a = -100.0 1/s", "> 0"),
]


@pytest.mark.parametrize("cls, field, value, named, rule", BAD_VALUES,
                         ids=[f"{c.__name__}.{f}" for c, f, *_ in BAD_VALUES])
def test_a_value_outside_its_range_is_refused_naming_it(cls, field, value, named, rule,
                                                        monkeypatch):
    model = dataclasses.replace(cls(), **{field: value})
    with pytest.raises(ValueError, match=named) as err:
        model.check()
    assert rule in str(err.value)
    calls = []
    monkeypatch.setattr(cls, "vector_field", lambda *a: calls.append(a))
    with pytest.raises(ValueError, match=named):
        simulate(model, duration_ms=10.0)
    assert not calls, "the model was stepped before the check"


def test_param_bounds_and_drive_units_are_checked():
    with pytest.raises(ValueError, match="WilsonCowan.tau_e bound"):
        WilsonCowan(tau_e=Param(2.5, bounds=(-1.0, 5.0))).check()
    with pytest.raises(ValueError, match="drive is in '1', but the model's drive is in 'nA'"):
        WongWang(drive=ConstantInput(0.4)).check()
    with pytest.raises(ValueError, match="a_i"):  # an array with one bad element
        WongWang(a_i=jnp.asarray([615.0, -1.0])).check()
    WongWang(a_i=jnp.asarray([615.0, 600.0])).check()


# ---- the column kind takes any model by name ----------------------------------------------------

def example(name: str) -> dict:
    return copy.deepcopy(EXAMPLES["experiments"][name])


def build(block: dict, name="exp"):
    return experiments.build(name, block)


def test_the_column_kind_builds_each_model_by_name():
    for name, block in EXAMPLES["experiments"].items():
        kind = build(block, name)
        assert type(kind.spec.model) is MODELS[block["model"]["name"]]
    wc = build(example("models_wilson_cowan"))
    assert wc.spec.model.drive == ConstantInput(1.0, unit="1")
    assert wc.units() == {"drive.value": "1"} and wc.signal_units == "1"
    ww = build(example("models_wong_wang"))
    assert ww.units() == {"j_i": "nA"} and ww.spec.model.drive == ConstantInput(0.382, unit="nA")
    # no model block: Jansen-Rit, as before the registry
    block = example("models_jansen_rit")
    del block["model"]
    default = build(block).spec.model
    assert default == JansenRit() and default.drive == ConstantDrive(220.0)


def test_the_target_records_the_observables_unit_and_name():
    kind = build(example("models_wilson_cowan"))
    target = kind.targets()[0]
    ds = kind.make_target(target)
    assert ds["eeg"].attrs == {"units": "1", "long_name": "excitatory activity E"}
    assert ds["rms"].attrs["units"] == "1" and ds["mean"].attrs["units"] == "1"
    assert set(ds.data_vars) == {"eeg", "mean", "rms", "spectral_peak_hz", "band_power"}


def set_key(block, path, value):
    node = block
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return block


BAD_CONFIGS = [
    ("unknown model", "models_wilson_cowan", ("model", "name"), "fitzhugh",
     "experiments.exp.model.name: unknown model 'fitzhugh'"),
    ("a parameter the model lacks", "models_wilson_cowan", ("model", "params", "C"), 135.0,
     "experiments.exp.model.params has unknown key(s) ['C']"),
    ("a fitted field the model lacks", "models_wong_wang", ("parameters",),
     {"C": {"bounds": [1, 2], "start": 1.5, "truths": [1.2]}},
     "experiments.exp.parameters.C: WongWang has no parameter 'C'"),
    ("a negative time constant", "models_wilson_cowan", ("model", "params", "tau_e"), -2.5,
     "experiments.exp.model.params.tau_e = -2.5 ms is outside the valid range"),
    ("a box outside the range", "models_wong_wang", ("parameters", "j_i", "bounds"), [-0.5, 1.5],
     "experiments.exp.parameters.j_i.bounds = -0.5 nA"),
    ("a drive field of another model", "models_wong_wang", ("model", "drive", "rate_hz"), 220.0,
     "rate_hz"),
    ("a noise drive the model lacks", "models_stuart_landau", ("model", "drive", "kind"),
     "ou_noise", "ou_noise"),
]


@pytest.mark.parametrize("label, base, path, value, message", BAD_CONFIGS,
                         ids=[c[0] for c in BAD_CONFIGS])
def test_a_bad_model_config_is_refused_naming_the_key(label, base, path, value, message,
                                                      monkeypatch):
    block = set_key(example(base), path, value)
    monkeypatch.setattr(sys.modules["eegfit.simulate"], "_prepare",
                        lambda *a, **k: pytest.fail("simulated before the config was checked"))
    with pytest.raises(ValueError) as err:
        build(block)
    assert message in str(err.value), str(err.value)


# ---- recovery in the library: both backends, every new model ----------------------------------

RECOVERY = {
    # model with the fitted field as a Param, truth, features (with options), simulation, grad lr,
    # tolerance (relative error of the best value)
    "wilson_cowan": (lambda v: WilsonCowan(drive=ConstantInput(v)), "drive.value", 1.5,
                     (0.9, 2.0), 1.2, {"mean": {}, "rms": {}},
                     {"dt_ms": 0.1, "duration_ms": 300.0, "transient_ms": 100.0}, 0.05),
    "wong_wang": (lambda v: WongWang(j_i=v), "j_i", 1.2, (0.7, 1.5), 0.9, {"mean": {}},
                  {"dt_ms": 0.5, "duration_ms": 1500.0, "transient_ms": 1000.0}, 0.03),
    "stuart_landau": (lambda v: StuartLandau(omega=v), "omega", 300.0, (150.0, 400.0), 250.0,
                      {"spectral_peak_hz": {"band_hz": [10.0, 80.0]}},
                      {"dt_ms": 0.1, "duration_ms": 500.0, "transient_ms": 100.0}, 5.0),
}
RECOVERY_TOL = 0.01  # 1 % with 30 Adam steps or 8 x 8 DE evaluations (measured: <= 0.3 %; with
# 6 x 6, one seed of three left the Stuart-Landau omega 3 % off: a budget, not a landscape, issue)


@pytest.mark.parametrize("backend", ["grad", "nevergrad"])
@pytest.mark.parametrize("name", sorted(RECOVERY))
def test_each_model_recovers_a_parameter_with_both_backends(name, backend):
    make, field, truth, bounds, start, features, sim, lr = RECOVERY[name]
    target = {n: float(sf.feature(n)(simulate(make(truth), **sim).observable, dt_ms=sim["dt_ms"],
                                     **o)) for n, o in features.items()}

    def loss_fn(model):
        eeg = simulate(model, **sim).observable
        values = {n: sf.feature(n)(eeg, dt_ms=sim["dt_ms"], **o) for n, o in features.items()}
        return sum(((values[n] - target[n]) / target[n]) ** 2 for n in values), values
    model = make(Param(start, bounds=bounds))
    if backend == "grad":
        result = Fitter(model, optax.adam(lr), loss_fn=loss_fn).fit(30)
    else:
        result = Fitter(model, "DE", loss_fn=loss_fn, backend="nevergrad", num_candidates=8,
                        optimizer_options={"popsize": 8, "initialization": "LHS"}).fit(8, seed=0)
    fitted = float(result.best_params[field])
    assert abs(fitted - truth) / truth < RECOVERY_TOL, (fitted, truth, result.status)
