"""An experiment kind defined outside eegfit runs through the runner and through Snakemake, named in
the config by its import path, without editing any file of the package or the workflow (README:
"Add an experiment kind").

The kind is a one-parameter toy: the observable is ``y = x ** power`` of a model with one field
``x``, ``power`` a key of the kind's own (its spec), and the loss the squared relative error of
``y`` to the target's.
"""

from __future__ import annotations

import hashlib
import os
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from test_pipeline import ROOT, copy_workflow, snakemake

MODULE = "eegfit_test_toykind"  # a name nothing else imports
KIND = f"{MODULE}:ToyKind"
SOURCE = textwrap.dedent('''
    """A toy experiment kind: x fitted from y = x ** power."""

    import dataclasses

    import xarray as xr

    from eegfit.experiments import Kind, Reader, Spec
    from eegfit.models import pytree_dataclass


    @pytree_dataclass
    class Toy:
        x: float = 1.0
        units = {"x": "s"}


    @dataclasses.dataclass(frozen=True)
    class ToySpec(Spec):
        power: float = 2.0

        extra_keys = ("power",)

        @classmethod
        def read_extra(cls, r: Reader) -> dict:
            return {"power": r.number("power", cls.power, above=0.0)}


    class ToyKind(Kind):
        Spec = ToySpec

        def base_model(self):
            return Toy()

        def y(self, model):
            return model.x ** self.spec.power

        def make_target(self, target):
            model = self.model_at({n: float(v) for n, v in target.truth.items()})
            return xr.Dataset({"y": ((), float(self.y(model)),
                                     {"units": "1", "long_name": "observable y = x ** power"})})

        def observed(self, target_ds):
            return float(target_ds["y"])

        def loss_fn(self, observed, seed):
            def loss_fn(model):
                y = self.y(model)
                return ((y - observed) / observed) ** 2, {"y": y}
            return loss_fn
''')
BLOCK = {
    "kind": KIND,
    "parameters": {"x": {"bounds": [0.5, 5.0], "start": 1.0, "truths": [2.0, 3.0]}},
    "seeds": [0],
    "simulation": {"dt_ms": 1.0, "duration_ms": 10.0},
    "power": 2,
    "backends": {"grad": {"optimizer": "adam", "learning_rate": 0.2, "n_steps": 40},
                 "nevergrad": {"optimizer": "DE", "num_candidates": 8, "n_steps": 12,
                               "options": {"popsize": 8}}},
}
CONFIG = {"experiments": {"toy_x": BLOCK}, "batching": {"chunk_size": 2}}


def package_and_workflow() -> dict[str, str]:
    """sha256 of every file of src/ and workflow/ (bytecode caches aside)."""
    files = [p for folder in ("src", "workflow") for p in sorted((ROOT / folder).rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts]
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def kind_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds")
    (folder / f"{MODULE}.py").write_text(SOURCE)
    return folder


@pytest.fixture
def on_path(kind_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(kind_dir))
    yield kind_dir
    sys.modules.pop(MODULE, None)


def test_kind_runs_through_the_runner(on_path):
    from eegfit import experiments
    from eegfit.experiments import runner

    kind = experiments.build("toy_x", BLOCK)
    assert type(kind).__module__ == MODULE and MODULE not in str(experiments.KINDS)
    assert Path(sys.modules[MODULE].__file__).parent == on_path
    assert kind.spec.power == 2.0 and kind.units() == {"x": "s"}
    assert [(t.label, t.seed) for t in kind.targets()] == [("x=2", 0), ("x=3", 0)]
    target = kind.targets()[1]
    target_ds = runner.make_target(kind, target)
    assert float(target_ds["y"]) == pytest.approx(9.0)
    assert target_ds.attrs["kind"] == KIND and target_ds.attrs["target"] == "x=3"
    for backend in ("grad", "nevergrad"):
        fit_ds, timing = runner.fit(kind, backend, target, target_ds)
        assert fit_ds.attrs["fitted_parameters"] == "x" and fit_ds["best_x"].attrs["units"] == "s"
        assert abs(float(fit_ds["best_x"]) - 3.0) < 0.05, (backend, float(fit_ds["best_x"]))
        assert float(fit_ds["noise_floor_loss"]) == 0.0  # no noise: the truth hits the target
        assert timing["n_evaluations"] > 0
    with pytest.raises(ValueError, match=r"experiments\.toy_x\.power"):
        experiments.build("toy_x", {**BLOCK, "power": -1})


@pytest.mark.slow
def test_kind_runs_through_snakemake_without_editing_eegfit(kind_dir, tmp_path):
    before = package_and_workflow()
    workdir = copy_workflow(tmp_path)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(kind_dir),
                                                      os.environ.get("PYTHONPATH")]))}
    snakemake(workdir, config=CONFIG, env=env)
    res = workdir / "results" / "toy_x"
    table = pd.read_csv(res / "summary.csv", dtype={"target": str, "units": str})
    assert len(table) == 4  # 2 truths x 1 seed x 2 backends, one parameter
    assert set(table["experiment"]) == {"toy_x"} and set(table["kind"]) == {KIND}
    assert set(table["parameter"]) == {"x"} and set(table["units"]) == {"s"}
    assert sorted(table["truth"]) == [2.0, 2.0, 3.0, 3.0]
    assert set(table["status"]) <= {"max_steps", "converged"}
    assert (table["rel_error"] < 0.02).all(), table
    assert (table["noise_floor_loss"] == 0).all()
    with xr.open_dataset(res / "targets/x=3/seed=0.nc") as target:
        assert float(target["y"]) == pytest.approx(9.0)
    for name in ("convergence", "comparison"):
        assert (res / "figures" / f"{name}.png").stat().st_size > 1000
    assert not (res / "scan.nc").exists()  # the kind has no scan
    # nothing of the package or the workflow was edited to add the kind
    assert package_and_workflow() == before
    copied = {p: hashlib.sha256((workdir / p).read_bytes()).hexdigest() for p in before
              if p.startswith("workflow/")}
    assert copied == {p: h for p, h in before.items() if p.startswith("workflow/")}
    assert not any(MODULE in (ROOT / p).read_text(errors="replace") for p in before)
