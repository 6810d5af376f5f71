"""The workflow's promises beyond one clean run: the default config plans; a job killed with
SIGKILL is resumed and every output ends complete and byte-identical to a clean run; every
experiment kind's results are byte-identical in a fresh directory; a bad value in any kind's block
stops at planning, naming its key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from test_pipeline import copy_workflow, digests

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
BLOCKS = [".test/config.yaml", ".test/multi.yaml", ".test/network.yaml"]  # conftest.blocks_run


def snakemake_cmd(*args, configs=BLOCKS):
    return [sys.executable, "-m", "snakemake", "--cores", "2", *args, "--configfile", *configs]


def run(workdir: Path, *args, configs=BLOCKS, check=True):
    proc = subprocess.run(snakemake_cmd(*args, configs=configs), cwd=workdir,
                          capture_output=True, text=True, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_default_config_plans(tmp_path, hcp_data):
    """`snakemake -n` on config/config.yaml: every experiment of the README plans its jobs."""
    work = copy_workflow(tmp_path / "default")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2"], cwd=work,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for name in yaml.safe_load((ROOT / "config/config.yaml").read_text())["experiments"]:
        assert f"figures_{name}" in out, name
    assert "paper_figures" in out and "make_input" in out


@pytest.fixture(scope="module")
def clean(blocks_run):
    """Every tiny experiment run once, from nothing, in a fresh directory (the session's run)."""
    return blocks_run


def test_sigkill_then_resume_gives_complete_identical_outputs(clean, tmp_path):
    """SIGKILL to Snakemake and its jobs while fits run; `--unlock`, then a rerun with
    --rerun-incomplete completes, and every NetCDF equals the clean run's (no half-written file
    survives). The two runs are in two fresh directories, so this is also every kind's
    byte-identity, fits included, in a fresh directory."""
    work = copy_workflow(tmp_path / "killed")
    proc = subprocess.Popen(snakemake_cmd(), cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and not list((work / "results").glob("*/fits/*/*/seed=*.nc")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = list((work / "results").glob("*/fits/*/*/seed=*.nc"))
    assert partial, "no fit had been written when the run was killed"
    run(work, "--unlock")
    run(work, "--rerun-incomplete")
    first, second = digests(clean / "results"), digests(work / "results")
    assert {"small_C_rms", "tiny_C_p", "tiny_network_k"} <= {p.split("/")[0] for p in first}
    assert any("/fits/" in p for p in first) and first == second
    assert not list((work / "results").rglob("*.tmp"))


BAD = {  # one cross-field mistake per experiment kind's own keys
    "network, objective": ("tiny_network_k", ("objective",), "fc_mse",
                           "experiments.tiny_network_k.objective"),
    "network, scan points": ("tiny_network_k", ("scan", "n_points"), 1,
                             "experiments.tiny_network_k.scan.n_points"),
    "two parameters, truths of unequal length": (
        "tiny_C_p", ("parameters", "C", "truths"), [160, 165],
        "experiments.tiny_C_p.parameters"),
    "two parameters, inverted bounds": ("tiny_C_p", ("parameters", "drive.rate_hz", "bounds"),
                                        [260, 160],
                                        "experiments.tiny_C_p.parameters.drive.rate_hz.bounds"),
    "uncertainty scale": ("tiny_C_p", ("uncertainty", "rel_sd"), 0,
                          "experiments.tiny_C_p.uncertainty.rel_sd"),
}


@pytest.mark.parametrize("name, path, value, culprit", BAD.values(), ids=list(BAD))
def test_a_bad_value_in_any_kind_stops_at_planning(tmp_path, name, path, value, culprit):
    work = copy_workflow(tmp_path / "bad")
    config = {}
    for file in BLOCKS:
        block = yaml.safe_load((ROOT / file).read_text())
        config = {**block, **config, "experiments": {**config.get("experiments", {}),
                                                     **block["experiments"]}}
    node = config["experiments"][name]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (work / "bad.yaml").write_text(yaml.safe_dump(config))
    proc = run(work, "-n", configs=["bad.yaml"], check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and culprit in out, out[-2000:]
    assert not (work / "results").exists()
