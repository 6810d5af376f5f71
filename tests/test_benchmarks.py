"""Every benchmark section runs: ``benchmarks/run_all.py --quick`` end to end (about 2 minutes on
2 cores; brainmass is skipped with a note where its venv is absent). Nothing asserts a time: this
catches a benchmark that no longer runs against the library it measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_run_all_quick_runs_every_section(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/run_all.py", "--quick", "--outdir",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "all.json").read_text())
    assert not results.get("errors"), results.get("errors")
    ran = [s for s in results["sections"] if s != "brainmass"]
    assert {"core", "batching", "startup", "scaling", "sweep", "posterior", "npe"} <= set(ran)
    assert all(results[s] for s in ran), [s for s in ran if not results[s]]
    summary = (tmp_path / "summary.md").read_text()
    assert summary.count("|") > 20  # the README's performance table, filled with this run


def test_gradient_benchmark_smoke_runs_every_kind_and_its_exact_gradients_agree(tmp_path):
    """``bench_gradients.py --smoke`` (about a minute): every kind and gradient mode runs; the
    forward-mode and the checkpointed reverse-mode gradient, two computations of one derivative,
    agree wherever finite; and the recording's full-horizon gradient matches the finite
    difference at the smallest step (what the README's table reports)."""
    out = tmp_path / "gradients.json"
    proc = subprocess.run([sys.executable, "benchmarks/bench_gradients.py", "--smoke", "--out",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert {r["kind"] for r in rows} == {"recording", "rec_1x41s", "network", "empirical_fc"}
    full = {(r["kind"], r["mode"]): r["grad"] for r in rows if r["horizon_ms"] is None}
    compared = 0
    for kind in {r["kind"] for r in rows}:
        forward, reverse = full[(kind, "forward")], full[(kind, "reverse")]
        for name, g in forward.items():
            if np.isfinite(g):
                assert reverse[name] == pytest.approx(g, rel=1e-3), (kind, name)
                compared += 1
    assert compared >= 5
    for r in rows:
        if r["kind"] in ("recording", "rec_1x41s") and r["horizon_ms"] is None:
            assert min(float(v) for v in r["rel_error"].values()) < 0.05, r
