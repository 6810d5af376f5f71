"""Every code block of README.md and config/README.md that is meant to run is run by the suite,
taken from the file itself, not copied here; ``RUN_BY`` names the test that runs each block, and a
block it does not name fails ``test_every_block_is_run_by_a_test``.

The README's Python blocks run in order, in one namespace (they build on each other); its first
block, the library in one example, outside the ``slow`` mark. A ``# out: ...`` line in a block is a
line the block prints: its words as written, each number to the digits written (the printed number
rounds to it: within half a unit in its last place)."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONFIG_README = ROOT / "config" / "README.md"

# Each block that is not Python, by its file, language and first line's start -> what runs it.
RUN_BY = {
    ("README.md", "bash", "make run"): "test_make_targets_run_what_the_readme_says",
    ("README.md", "bash", "make test"): "test_make_targets_run_what_the_readme_says",
    ("README.md", "bash", "snakemake --cores 4"):
        "test_pipeline.py::test_quick_start_commands_run_in_order",
    ("README.md", "bash", "snakemake --profile profiles/slurm --default-resources"):
        "test_the_other_shell_blocks_plan (planned, -n: the run itself is test_slurm.py's)",
    ("README.md", "bash", "papermill workflow/notebooks/paper_figures.ipynb"):
        "test_paper.py::test_the_readmes_papermill_command_as_written (on the small run's results)",
    ("README.md", "yaml", "experiments:\n  toy_x:"): "test_add_kind.py",
    ("config/README.md", "bash", "cp config/config.yaml my.yaml"):
        "test_the_other_shell_blocks_plan (the edits its comments show, then planned, -n)",
    ("config/README.md", "yaml", "experiments:"): "test_config_readme_yaml_blocks_load",
}


def fenced_blocks(path: Path) -> list[tuple[int, str, str]]:
    """``(first line number, language, code)`` of each fenced block of ``path``."""
    blocks, lines, start, language = [], None, 0, ""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if lines is None and line.startswith("```"):
            lines, start, language = [], number + 1, line[3:].strip()
        elif lines is not None and line.strip() == "```":
            blocks.append((start, language, "\n".join(lines)))
            lines = None
        elif lines is not None:
            lines.append(line)
    return blocks


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(first line number, code)`` of each fenced ```python block of ``path``."""
    return [(start, code) for start, language, code in fenced_blocks(path) if language == "python"]


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def line_matches(want: str, got: str) -> bool:
    """``got`` is ``want`` with each number printed to at least the digits ``want`` writes."""
    if NUMBER.sub("#", want).split() != NUMBER.sub("#", got).split():
        return False
    for w, g in zip(NUMBER.findall(want), NUMBER.findall(got), strict=True):
        decimals = len(w.split(".")[1]) if "." in w and "e" not in w.lower() else 0
        if abs(float(g) - float(w)) > 0.5 * 10.0 ** -decimals * (1 + 1e-9):
            return False
    return True


def check_output(start: int, code: str, printed: str) -> None:
    lines = [line.strip() for line in printed.splitlines()]
    for want in (m.group(1).strip() for m in re.finditer(r"^\s*# out: (.*)$", code, re.M)):
        assert any(line_matches(want, got) for got in lines), (
            f"README.md block at line {start} prints {lines}, not {want!r}")


def run_block(start: int, code: str, namespace: dict) -> str:
    """Run one block in ``namespace``; what it prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(code, f"README.md:{start}", "exec"), namespace)  # noqa: S102
        except Exception as err:
            raise AssertionError(f"README.md block at line {start} fails: {err!r}") from err
    return out.getvalue()


def test_the_readme_has_python_blocks():
    assert len(python_blocks(README)) >= 6


def test_every_block_is_run_by_a_test():
    """A new block in either file needs a test (and its line in RUN_BY), and each line of RUN_BY
    a block; blocks without a language are diagrams."""
    used = set()
    for path in (README, CONFIG_README):
        name = str(path.relative_to(ROOT))
        for start, language, code in fenced_blocks(path):
            if language in ("", "python") and name == "README.md":
                continue
            assert language, f"{name}:{start}: a block without a language outside README.md"
            runs = [key for key in RUN_BY
                    if key[:2] == (name, language) and code.lstrip().startswith(key[2])]
            assert runs, f"{name}:{start}: a {language} block that no test runs:\n{code[:200]}"
            used.update(runs)
    stale = set(RUN_BY) - used
    assert not stale, f"RUN_BY names blocks the files no longer have: {stale}"


@pytest.mark.parametrize(("want", "got", "ok"), [
    ("150.6 max_steps 150.2 48", "150.59566 max_steps 150.23059 48", True),
    ("150.6 max_steps 150.2 48", "150.69566 max_steps 150.23059 48", False),
    ("150.6 max_steps 150.2 48", "150.59566 converged 150.23059 48", False),
    ("150.6 max_steps 150.2 48", "150.59566 max_steps 150.23059 49", False),
    ("('O1', 'T7', 'Oz') (3, 76)", "('O1', 'T7', 'Oz') (3, 76)", True),
    ("0.001 [144.715, 144.761]", "0.001 [144.715, 144.762]", False),
])
def test_printed_lines_match_to_the_digits_written(want, got, ok):
    assert line_matches(want, got) is ok


@pytest.fixture(scope="module")
def readme_namespace():
    """A module namespace, as a user's script has (dataclasses look their module up), with the
    README's first block, the library in one example, run in it: ``(namespace, printed)``."""
    readme = types.ModuleType("readme")
    sys.modules["readme"] = readme
    start, code = python_blocks(README)[0]
    printed = run_block(start, code, readme.__dict__)
    yield readme.__dict__, printed
    sys.modules.pop("readme", None)


def test_the_library_example_runs_as_written(readme_namespace):
    """The README's main example, outside the slow mark: it prints its # out: line (to the digits it
    shows), a grad and a nevergrad fit near C = 150."""
    namespace, printed = readme_namespace
    start, code = python_blocks(README)[0]
    assert "# out:" in code
    check_output(start, code, printed)
    assert namespace["grad"].best_params["C"] == pytest.approx(150.0, rel=0.01)
    assert namespace["ng"].n_evaluations == 48 and printed.strip()


@pytest.mark.slow
def test_every_readme_python_block_runs_as_written(readme_namespace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the blocks write files (posterior.nc, npe.eqx)
    namespace, _ = readme_namespace
    for start, code in python_blocks(README)[1:]:
        check_output(start, code, run_block(start, code, namespace))


def commented_command(block: str) -> tuple[str, list[str]]:
    """A ``make X  # = a; b (aside); c`` line: the target and the commands its comment lists."""
    target, comment = block.split("#", 1)
    commands = re.sub(r"\([^)]*\)", "", comment.split("=", 1)[1]).split(";")
    return target.split()[1], [c.strip() for c in commands if c.strip()]


def is_subsequence(words: list[str], line: list[str]) -> bool:
    it = iter(line)
    return all(word in it for word in words)


def test_make_targets_run_what_the_readme_says():
    """`make run` and `make test` do what their comments in the Quick start say: each command
    listed is one `make -n` prints (its words in order; make's own flags such as --quiet aside)."""
    blocks = [code for _, language, code in fenced_blocks(README)
              if language == "bash" and code.startswith("make ")]
    assert len(blocks) == 2
    for block in blocks:
        target, commands = commented_command(block)
        proc = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True,
                              text=True, check=True)
        printed = [line.split() for line in proc.stdout.splitlines()]
        for command in commands:
            assert any(is_subsequence(command.split(), line) for line in printed), (
                f"README: `make {target}` does not run `{command}`:\n{proc.stdout}")


def test_config_readme_yaml_blocks_load(hcp_data):
    """Each config block config/README.md shows is accepted by `eegfit.experiments.load`."""
    from eegfit import experiments

    blocks = [code for _, language, code in fenced_blocks(CONFIG_README) if language == "yaml"]
    assert blocks
    for code in blocks:
        config = yaml.safe_load(code)
        assert set(experiments.load(config)) == set(config["experiments"])


def own_recording_config(block: str, default: dict) -> dict:
    """The default config with the edits the block's comments show to the recording_demo block
    (``#   key: value`` lines)."""
    edits = {}
    for line in block.splitlines():
        match = re.match(r"#\s+(\w+): (.*?)(?:\s+#.*)?$", line)
        if match:
            edits.update(yaml.safe_load(f"{match.group(1)}: {match.group(2)}"))
    assert {"files", "channels"} <= set(edits), block
    default["experiments"]["recording_demo"].update(edits)
    return default


@pytest.mark.slow
def test_the_other_shell_blocks_plan(tmp_path):
    """The README's SLURM command and config/README.md's own-recording commands, as written, in
    a copy of the workflow, planned (-n: the runs take minutes and need a cluster). The recording
    the block names, which a user downloads, is the repository's PhysioNet run 1 under its name."""
    from test_pipeline import copy_workflow

    work = copy_workflow(tmp_path / "work")
    slurm = next(code for _, language, code in fenced_blocks(README)
                 if language == "bash" and code.startswith("snakemake --profile profiles/slurm "))
    (own,) = [code for _, language, code in fenced_blocks(CONFIG_README) if language == "bash"]
    config = own_recording_config(own, yaml.safe_load((ROOT / "config/config.yaml").read_text()))
    for path in config["experiments"]["recording_demo"]["files"].values():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "tests/data/S001R01.edf", work / path)
    commands = [line.split("#")[0].strip() for line in (slurm + "\n" + own).splitlines()]
    for command in filter(None, commands):
        args = command.split()
        if args[0] == "cp":
            subprocess.run(args, cwd=work, check=True)
            (work / args[2]).write_text(yaml.safe_dump(config))  # the edits the comments show
            continue
        proc = subprocess.run([sys.executable, "-m", "snakemake", *args[1:], "-n"], cwd=work,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (f"`{command}` fails:\n{proc.stdout[-2000:]}\n"
                                      f"{proc.stderr[-2000:]}")
        assert "This was a dry-run" in proc.stdout, proc.stdout[-2000:]
