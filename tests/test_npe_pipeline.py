"""The npe: block of an experiment: checked at planning by key path, and the pipeline run for
real by Snakemake on .test/npe.yaml (estimator and sidecar, one InferenceData per target, the
calibration file, the figures in the report, a no-op rerun, byte-identical files on a forced
rerun, and a changed prior refused by the saved estimator)."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import xarray as xr
import yaml

from eegfit import experiments
from eegfit.experiments import npe
from eegfit.experiments.provenance import depends
from test_pipeline import copy_workflow
from test_posterior_pipeline import snakemake

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / ".test" / "npe.yaml").read_text())
BLOCK = CONFIG["experiments"]["npe_C_rms"]


def build_with(npe_block=None, **changes):
    block = copy.deepcopy(BLOCK)
    block["npe"] = {**block["npe"], **(npe_block or {})}
    block.update(changes)
    return experiments.build("e", block)


BAD_BLOCKS = [
    ("budget of zero", dict(n_simulations=0), {}, "experiments.e.npe.n_simulations must be >= 1"),
    ("unknown key", dict(budget=10), {}, "experiments.e.npe has unknown key(s) ['budget']"),
    ("zero steps", dict(steps=0), {}, "experiments.e.npe.steps must be >= 1"),
    ("bad learning rate", dict(learning_rate=-1.0), {}, "experiments.e.npe.learning_rate"),
    ("zero SBC runs", dict(sbc={"runs": 0}), {}, "experiments.e.npe.sbc.runs must be >= 2"),
    ("too many bins", dict(sbc={"draws": 9, "bins": 20}), {}, "experiments.e.npe.sbc.bins"),
    ("no posterior block", {}, dict(posterior=None), "experiments.e.npe: an NPE needs the "
                                                     "posterior: block"),
    ("seed spread", {}, dict(posterior={"scale": {"seed_spread": 4}}),
     "experiments.e.npe: the NPE's noise"),
    ("noisy drive", {}, dict(model={"drive": {"kind": "uniform_noise"}}),
     "experiments.e.npe: an NPE is trained"),
]


@pytest.mark.parametrize("label, npe_block, changes, culprit", BAD_BLOCKS,
                         ids=[b[0] for b in BAD_BLOCKS])
def test_bad_npe_block_is_refused_naming_the_key(label, npe_block, changes, culprit):
    with pytest.raises(ValueError) as err:
        build_with(npe_block, **changes)
    assert culprit in str(err.value), f"{label}: {err.value}"


def test_npe_block_off_by_default_and_outside_the_fits_dependencies():
    assert build_with(dict(enabled=False)).spec.npe is None
    plain = experiments.build("e", {k: v for k, v in BLOCK.items() if k != "npe"})
    assert plain.spec.npe is None
    kind = build_with()
    for stage in ("target", "fit", "scan", "posterior"):
        backend = "grad" if stage == "fit" else None
        assert depends(kind, stage, backend) == depends(plain, stage, backend)
    assert depends(kind, "npe") != depends(build_with(dict(seed=1)), "npe")


# ---- the pipeline ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("npe"))
    snakemake(workdir, config=CONFIG)
    return workdir


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_npe_outputs_are_inference_data_and_a_calibration(run):
    from eegfit.infer.nuts import _arviz

    res = run / "results" / "npe_C_rms"
    assert (res / "npe" / "estimator.eqx").stat().st_size > 0
    assert '"rms"' in (res / "npe" / "estimator.json").read_text()
    for label in ("C=135", "C=160"):
        data = _arviz().from_netcdf(res / "npe" / "posteriors" / label / "seed=0.nc")
        assert data.posterior["C"].shape == (4, 100)
        assert data.posterior.attrs["sampled_from"] == "npe"
        assert data.posterior.attrs["target"] == label and "created_at" not in data.posterior.attrs
    with xr.open_dataset(res / "npe" / "calibration.nc") as cal:
        assert int(cal["rank_count"].sum()) == cal.attrs["runs"] > 50
        assert cal.sizes["level"] == 19 and "chi2_p" in cal


@pytest.mark.slow
def test_npe_figures_are_nonempty_images(run):
    from matplotlib.image import imread

    for name in ("npe_sbc", "npe_coverage", "npe_vs_grid"):
        image = imread(run / "results" / "npe_C_rms" / "figures" / f"{name}.png")
        assert image.shape[0] > 200 and image[..., :3].std() > 0.01, name


@pytest.mark.slow
def test_rerun_is_noop_and_byte_identical_and_a_changed_prior_is_refused(run):
    assert "Nothing to be done" in snakemake(run, "-n", config=CONFIG)
    folder = run / "results" / "npe_C_rms" / "npe"
    before = digests(folder)
    snakemake(run, *(f"results/npe_C_rms/npe/{p}" for p in before),
              "--forcerun", "npe_train_npe_C_rms", config=CONFIG)
    assert digests(folder) == before
    changed = copy.deepcopy(BLOCK)
    changed["parameters"]["C"]["bounds"] = [100, 170]
    with pytest.raises(ValueError, match="other prior bounds"):
        npe.load(experiments.build("npe_C_rms", changed), folder / "estimator.eqx")
