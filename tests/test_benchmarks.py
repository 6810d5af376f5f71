"""Every benchmark section runs: ``benchmarks/run_all.py --quick`` end to end (about 2 minutes on
2 cores; brainmass is skipped with a note where its venv is absent). Nothing asserts a time: this
catches a benchmark that no longer runs against the library it measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
