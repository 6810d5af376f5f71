"""An experiment kind defined outside eegfit runs through the runner and through Snakemake, named in
the config by its import path, without editing any file of the package or the workflow.

The kind and its config block are the README's ("Add an experiment kind"), taken from the file:
a one-parameter toy whose observable is ``y = x ** power`` of a model with one field ``x``,
``power`` a key of the kind's own (its spec), and the loss the squared relative error of ``y``
to the target's.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
import yaml

from test_pipeline import ROOT, copy_workflow, snakemake
from test_readme import README, python_blocks

MODULE = "mykinds"  # the README's module name; nothing in src/ or workflow/ names it
KIND = f"{MODULE}:ToyKind"
SOURCE = next(code for _, code in python_blocks(README) if code.startswith(f"# {MODULE}.py"))


def yaml_block(text: str, first: str) -> str:
    """The fenced ```yaml block of ``text`` whose first lines hold ``first``."""
    for block in text.split("```yaml\n")[1:]:
        block = block.split("```")[0]
        if first in block:
            return block
    raise AssertionError(f"README: no yaml block with {first!r}")


BLOCK = yaml.safe_load(yaml_block(README.read_text(), KIND))["experiments"]["toy_x"]
CONFIG = {"experiments": {"toy_x": BLOCK}, "batching": {"chunk_size": 2}}


def package_and_workflow() -> dict[str, str]:
    """sha256 of every file of src/ and workflow/ (bytecode caches and the install's metadata
    aside: ``src/eegfit.egg-info`` holds a copy of the README, whose example names the kind)."""
    files = [p for folder in ("src", "workflow") for p in sorted((ROOT / folder).rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts
             and not any(part.endswith(".egg-info") for part in p.parts)]
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
