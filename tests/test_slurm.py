"""The small config through profiles/slurm on a real single-node SLURM (slurm-wlm + munge).

tests/slurm/start_slurm.sh installs and starts the cluster (root and apt needed: the test skips,
loudly, elsewhere). Without slurmdbd the plugin's default sacct status check hangs, so the test
asks it to poll squeue (the script sets a long MinJobAge so finished jobs stay visible).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest

from test_pipeline import EXP, SMALL, copy_workflow, snakemake

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.slurm]


def _skip(reason: str):
    warnings.warn(f"SLURM test skipped: {reason}", stacklevel=2)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm():
    if os.geteuid() != 0:
        _skip("needs root to install and start slurm-wlm and munge")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        _skip("needs apt-get (Debian) to install slurm-wlm and munge")
    proc = subprocess.run(["bash", str(ROOT / "tests/slurm/start_slurm.sh")],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f"start_slurm.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    yield
    subprocess.run(["bash", str(ROOT / "tests/slurm/stop_slurm.sh")], capture_output=True,
                   timeout=120)


def test_small_config_runs_through_the_slurm_profile(slurm, tmp_path):
    config = copy.deepcopy(SMALL)
    config["experiments"][EXP]["parameters"]["C"]["truths"] = [150]
    workdir = copy_workflow(tmp_path)
    snakemake(workdir, "--profile", "profiles/slurm", "--jobs", "4",
              "--default-resources", "slurm_partition=debug", "mem_mb=1000", "runtime=10",
              "--slurm-status-command", "squeue", "--slurm-keep-successful-logs",
              "--slurm-init-seconds-before-status-checks", "1",
              "--seconds-between-status-checks", "2", config=config)
    res = workdir / "results" / EXP
    table = pd.read_csv(res / "summary.csv")
    assert len(table) == 2
    assert (table["rel_error"] < 0.01).all(), table
    assert (res / "figures" / "comparison.png").is_file()
    assert (res / "figures" / "paper" / "recovery.png").is_file()
    # each rule's own threads, memory and time (workflow/rules/common.smk STAGES) reached sbatch,
    # not the command line's default resources (mem_mb=1000, runtime=10)
    queue = subprocess.run(["squeue", "--states=all", "--noheader", "-o", "%k|%m|%l|%C"],
                           capture_output=True, text=True, timeout=60).stdout
    asked = {}
    for line in queue.splitlines():
        comment, mem, limit, cpus = line.strip().split("|")
        rule = comment.removeprefix("rule_").split("_wildcards_")[0]
        asked.setdefault(rule.split("_")[0], set()).add((mem, limit, cpus))
    assert asked.get("fit") == {("4000M", "1:00:00", "1")}, queue
    assert asked.get("summary") == {("1000M", "10:00", "1")}, queue
    assert asked.get("targets") == {("2000M", "20:00", "1")}, queue
    # every rule really went through sbatch: the plugin keeps one log per SLURM job
    slurm_logs = list((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert len(slurm_logs) >= 7, slurm_logs  # targets, 2 fits, scan, summary, figures, paper
