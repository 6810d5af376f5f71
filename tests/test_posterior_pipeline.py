"""Posteriors in the experiments: the posterior: block checked by key path, NUTS from the
nevergrad population through the runner, and the pipeline run for real by Snakemake on
.test/posterior.yaml (posterior files, summary columns, figures, no-op rerun, reruns limited to
the posterior, byte-identical posterior files)."""

from __future__ import annotations

import copy
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from eegfit import experiments, plots
from eegfit.experiments import Kind, posterior, runner
from eegfit.experiments.provenance import depends
from eegfit.infer import idata
from eegfit.models import JansenRit
from test_pipeline import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / ".test" / "posterior.yaml").read_text())
BLOCK = CONFIG["experiments"]["post_C_rms"]


class NoFeatures(Kind):
    """A kind without simulate_features: no posterior possible."""

    def base_model(self):
        return JansenRit()

    def make_target(self, target):
        raise NotImplementedError

    def observed(self, target_ds):
        raise NotImplementedError

    def loss(self, model, data):
        raise NotImplementedError


def build_with(**posterior_block):
    block = copy.deepcopy(BLOCK)
    block["posterior"] = posterior_block
    return experiments.build("post", block)


BAD_BLOCKS = [
    ("unknown method", dict(method="mcmc"), "experiments.post.posterior.method"),
    ("unknown key", dict(chain=4), "experiments.post.posterior has unknown key(s) ['chain']"),
    ("zero chains", dict(method="nuts", chains=0), "experiments.post.posterior.chains"),
    ("zero draws", dict(method="nuts", draws=0), "experiments.post.posterior.draws"),
    ("zero scale", dict(scale={"rel_sd": 0.0}), "experiments.post.posterior.scale.rel_sd"),
    ("negative sd", dict(scale={"sd": {"rms": -1.0}}), "experiments.post.posterior.scale.sd.rms"),
    ("two scales", dict(scale={"rel_sd": 0.01, "seed_spread": 8}),
     "experiments.post.posterior.scale: give one of"),
    ("NaN scale", dict(scale={"rel_sd": float("nan")}),
     "experiments.post.posterior.scale.rel_sd must be a finite number"),
    ("prior outside the bounds", dict(priors={"C": {"kind": "uniform", "bounds": [100, 150]}}),
     "experiments.post.posterior.priors.C.bounds"),
    ("prior of no parameter", dict(priors={"D": {"kind": "normal", "mean": 1, "sd": 1}}),
     "experiments.post.posterior.priors.D"),
    ("HDS probability 1", dict(hds_prob=1.0), "experiments.post.posterior.hds_prob"),
    ("max_width over 1", dict(max_width=2.0), "experiments.post.posterior.max_width"),
]


@pytest.mark.parametrize("label, block, culprit", BAD_BLOCKS, ids=[b[0] for b in BAD_BLOCKS])
def test_bad_posterior_block_is_refused_naming_the_key(label, block, culprit):
    with pytest.raises(ValueError) as err:
        build_with(**block)
    assert culprit in str(err.value), f"{label}: {err.value}"


def test_grid_of_three_parameters_and_a_kind_without_features_are_refused():
    block = copy.deepcopy(BLOCK)
    block["parameters"]["A"] = {"bounds": [3, 4], "start": 3.25, "truths": [3.25, 3.25]}
    block["parameters"]["B"] = {"bounds": [20, 25], "start": 22, "truths": [22, 22]}
    with pytest.raises(ValueError, match="posterior.method: a grid posterior takes 1 or 2"):
        experiments.build("post", block)
    block = {k: copy.deepcopy(BLOCK[k]) for k in ("parameters", "seeds", "simulation",
                                                  "backends", "posterior")}
    block["kind"] = "test_posterior_pipeline:NoFeatures"
    with pytest.raises(ValueError, match="experiments.post.posterior: kind .* has no feature"):
        experiments.build("post", block)


def test_posterior_block_off_and_defaults_in_one_place():
    assert build_with(enabled=False).spec.posterior is None
    assert experiments.build("post", {k: v for k, v in BLOCK.items()
                                      if k != "posterior"}).spec.posterior is None
    spec = build_with().spec.posterior
    assert (spec.method, spec.hds_prob, spec.max_width) == ("grid", 0.9, 0.1)


def test_changing_the_posterior_block_changes_no_fit_or_target_dependency():
    kind, other = build_with(method="grid"), build_with(method="nuts", chains=2)
    for stage in ("target", "fit", "scan"):
        assert depends(kind, stage, "grad" if stage == "fit" else None) == \
            depends(other, stage, "grad" if stage == "fit" else None), stage
    assert depends(kind, "posterior") != depends(other, "posterior")


# ---- NUTS from the nevergrad population, two parameters, through the runner ----------------------

NUTS_BLOCK = {
    "kind": "column",
    "parameters": {"C": {"bounds": [150, 180], "start": 155, "truths": [160]},
                   "drive.rate_hz": {"bounds": [160, 260], "start": 180, "truths": [200]}},
    "seeds": [0], "model": {"params": {}},
    "simulation": {"dt_ms": 0.1, "duration_ms": 600.0, "transient_ms": 200.0},
    "features": {"rms": {}, "spectral_peak_hz": {"band_hz": [2, 20]}},
    "backends": {"nevergrad": {"optimizer": "DE", "num_candidates": 8, "n_steps": 4,
                               "options": {"popsize": 8}}},
    "posterior": {"method": "nuts", "chains": 2, "draws": 60, "warmup": 60, "grid_points": 11,
                  "refine": 0},
}


def test_nuts_posterior_of_two_parameters_starts_from_the_nevergrad_fit(tmp_path):
    kind = experiments.build("post_C_p", NUTS_BLOCK)
    (target,) = kind.targets()
    target_ds = runner.make_target(kind, target)
    fit, _ = runner.fit(kind, "nevergrad", target, target_ds)
    prob, _ = posterior.problem(kind, target, kind.observed(target_ds))
    starts = posterior.starts_from_fit(fit, prob, 2)
    loss = fit["loss"].values.ravel()
    best = np.nanargmin(loss)
    assert starts["C"][0] == pytest.approx(float(fit["param_C"].values.ravel()[best]), abs=0.05)
    groups = posterior.run(kind, target, target_ds, fit)
    assert groups["posterior"]["C"].shape == (2, 60)
    assert groups["posterior"].attrs["sampled_from"] == "nuts"
    assert groups["identifiability"].attrs["starts"] == "nevergrad fit"
    assert "grid" in groups  # the reference grid of two parameters is kept
    path = idata.write(groups, tmp_path / "p.nc")
    figure = plots.posterior_pairs([idata.read(path)], [fit])
    assert len(figure.axes) == 4


# ---- the pipeline ------------------------------------------------------------------------------

def snakemake(workdir: Path, *args, config=CONFIG):
    path = workdir / "posterior_config.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args, "--configfile", str(path)]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.nc"))}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("posterior"))
    snakemake(workdir)
    return workdir


@pytest.mark.slow
def test_posterior_files_and_summary_columns(run):
    from eegfit.infer.nuts import _arviz

    res = run / "results" / "post_C_rms"
    for label in ("C=135", "C=146.6"):
        path = res / "posteriors" / label / "seed=0.nc"
        data = _arviz().from_netcdf(path)
        assert {"posterior", "sample_stats", "prior", "observed_data", "grid",
                "identifiability"} <= set(data.groups())
        with xr.open_dataset(path, group="posterior") as post:
            assert post.attrs["experiment"] == "post_C_rms" and post.attrs["target"] == label
            assert "config_json" in post.attrs and "created_at" not in post.attrs
    table = pd.read_csv(res / "summary.csv", dtype={"target": str})
    assert len(table) == 4
    for _, row in table.iterrows():
        assert row["posterior_method"] == "grid" and row["truth_in_hds"] == "inside"
        if row["target"] == "C=135":
            assert row["identified"] == "yes" and row["hds_n_intervals"] == 1
        else:  # inside the RMS dip: two branches of C give the target's RMS
            assert row["identified"] == "no" and row["hds_n_intervals"] == 2, row.to_dict()
            assert row["hds_intervals"].count("[") == 2
    with xr.open_dataset(res / "posteriors" / "verdict.nc") as verdict:
        c = verdict["value"].values
        assert verdict["identified"].values[np.argmin(abs(c - 135))] == 1
        assert (verdict["n_intervals"].values[(c > 144) & (c < 148)] > 1).any()


@pytest.mark.slow
def test_posterior_figures_are_nonempty_images(run):
    from matplotlib.image import imread

    res = run / "results" / "post_C_rms" / "figures"
    for png in (res / "posterior.png", res / "identifiability.png",
                res / "paper" / "posterior.png", res / "paper" / "landscape.png"):
        image = imread(png)
        assert image.shape[0] > 300 and image[..., :3].std() > 0.01, png


@pytest.mark.slow
def test_rerun_is_noop_and_a_posterior_setting_reruns_only_the_posteriors(run):
    assert "Nothing to be done" in snakemake(run, "-n")
    changed = copy.deepcopy(CONFIG)
    changed["experiments"]["post_C_rms"]["posterior"]["scale"] = {"rel_sd": 0.002}
    out = snakemake(run, "-n", config=changed)
    jobs = {line.split()[0] for line in out.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert any(job.startswith("posterior_") for job in jobs), out
    assert not any(job.startswith(("fit_", "targets_", "scan")) for job in jobs), out


@pytest.mark.slow
def test_posterior_files_are_byte_identical_on_a_rerun(run):
    before = digests(run / "results" / "post_C_rms" / "posteriors")
    assert len(before) == 3
    snakemake(run, *(f"results/post_C_rms/posteriors/{name}" for name in before),
              "--forcerun", "posterior_post_C_rms_0", "posterior_verdict")
    assert digests(run / "results" / "post_C_rms" / "posteriors") == before
