"""The README's first example runs and prints its table (one target and seed, to stay quick)."""

import runpy
from pathlib import Path

from eegfit.fit import STATUSES

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "case_study.py"


def test_case_study_example_runs(capsys):
    namespace = runpy.run_path(str(EXAMPLE), run_name="example")  # defines, does not run main
    namespace["main"](truths=(150.0,), seeds=(0,))
    lines = capsys.readouterr().out.splitlines()
    # table rows: C*, backend, seed, fitted C, error %, status, evaluations, wall time
    rows = [row for row in map(str.split, lines) if len(row) == 8 and row[0] != "C*"]
    assert [row[1] for row in rows] == ["grad", "nevergrad"]
    for row in rows:
        c_true, fitted, status = float(row[0]), float(row[3]), row[5]
        assert status in STATUSES
        assert abs(fitted - c_true) / c_true < 0.01
    assert any("Spread over seeds" in line for line in lines)
