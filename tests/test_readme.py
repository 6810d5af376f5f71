"""Every Python block of the README runs as written, in order, in one namespace (the blocks build
on each other), extracted from the file, not copied here; a ``# out: ...`` line after a block's
``print`` is the line it prints."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import types
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(first line number, code)`` of each fenced ```python block of ``path``."""
    blocks, lines, start = [], None, 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if lines is None and line.strip() == "```python":
            lines, start = [], number + 1
        elif lines is not None and line.strip() == "```":
            blocks.append((start, "\n".join(lines)))
            lines = None
        elif lines is not None:
            lines.append(line)
    return blocks


def expected_output(code: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^\s*# out: (.*)$", code, re.MULTILINE)]


def test_the_readme_has_python_blocks():
    assert len(python_blocks(README)) >= 6


@pytest.mark.slow
def test_every_readme_python_block_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the blocks write files (posterior.nc, npe.eqx)
    readme = types.ModuleType("readme")  # a module, as a user's script is (dataclasses look it up)
    monkeypatch.setitem(sys.modules, "readme", readme)
    namespace = readme.__dict__
    for start, code in python_blocks(README):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(code, f"README.md:{start}", "exec"), namespace)  # noqa: S102
            except Exception as err:
                raise AssertionError(f"README.md block at line {start} fails: {err!r}") from err
        printed = [line.strip() for line in out.getvalue().splitlines()]
        for line in expected_output(code):
            assert line in printed, (f"README.md block at line {start} prints {printed}, not "
                                     f"{line!r}")
