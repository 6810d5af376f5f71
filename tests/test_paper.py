"""Paper figures: the papermill notebook on the small config's results, its rule, the report.

One pipeline run (the small config, rule ``paper_figures`` included; the run test_pipeline.py
reads too) serves every test; the notebook reads one experiment's directory (results/<experiment>,
config paper.experiment) and is executed again standalone, as the README tells users to, and must
give the same bytes.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.collections
import matplotlib.colors
import matplotlib.lines
import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).parent))
from test_pipeline import BLOCK, EXP, ROOT, SMALL, snakemake  # noqa: E402

from eegfit import io, plots, results  # noqa: E402

pytestmark = pytest.mark.slow
NOTEBOOK = "workflow/notebooks/paper_figures.ipynb"
RESULTS = Path("results") / EXP  # the paper experiment's directory
PAPER = RESULTS / "figures" / "paper"
SINGLE_COLUMN_PX = round(89 / 25.4 * 300)  # 1051 px: 89 mm at 300 dpi


@pytest.fixture(scope="module")
def run(small_run):
    assert SMALL["paper"]["experiment"] == EXP
    return small_run


@pytest.fixture(scope="module")
def loaded(run):
    return results.load(run / RESULTS)


def papermill(workdir: Path, executed: Path, *args, check=True):
    """The papermill CLI, as a user runs it (from the workflow's root)."""
    cmd = [sys.executable, "-m", "papermill", NOTEBOOK, str(executed), "-k", "python3", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"papermill failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def test_rule_writes_every_promised_file(run):
    made = sorted(p.name for p in (run / PAPER).iterdir())
    assert made == sorted(f"{name}.{ext}" for name in plots.PAPER_FIGURES for ext in ("pdf", "png"))
    notebook = (run / RESULTS / "notebooks/paper_figures.ipynb").read_text()
    assert '"output_type": "error"' not in notebook
    assert f"experiment {EXP}" in notebook  # it read this run's results
    assert (run / f"logs/paper/{EXP}.log").is_file()
    assert (run / f"results/benchmarks/paper/{EXP}.tsv").is_file()


@pytest.mark.parametrize("name", plots.PAPER_FIGURES)
def test_pngs_are_single_column_images_and_pdfs_are_vector(run, name):
    from matplotlib.image import imread

    image = imread(run / PAPER / f"{name}.png")
    height, width = image.shape[:2]
    assert abs(width - SINGLE_COLUMN_PX) <= 1, width
    assert 0.3 * width < height < 1.2 * width, (width, height)
    assert image[..., :3].std() > 0.05, f"{name}.png is blank"
    pdf = (run / PAPER / f"{name}.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    assert b"/Subtype /Image" not in pdf  # lines and text, not a raster
    assert b"CreationDate" not in pdf


def test_standalone_notebook_gives_byte_identical_figures(run, tmp_path):
    papermill(run, tmp_path / "out.ipynb", "-p", "results_dir", str(RESULTS),
              "-p", "output_dir", str(tmp_path))
    for name in plots.PAPER_FIGURES:
        for ext in ("pdf", "png"):
            again = (tmp_path / f"{name}.{ext}").read_bytes()
            assert again == (run / PAPER / f"{name}.{ext}").read_bytes(), f"{name}.{ext}"


def test_the_readmes_papermill_command_as_written(run, tmp_path):
    """README, "Reproduce the figures": its papermill command, word for word, from a directory
    that holds the notebook and the small run's results under the default experiment's name; the
    figures it writes are the rule's, byte for byte."""
    from test_readme import README, fenced_blocks

    (command,) = [line.split("#")[0].split() for _, language, code in fenced_blocks(README)
                  if language == "bash" for line in code.splitlines()
                  if line.startswith("papermill ")]
    results_dir = tmp_path / command[command.index("results_dir") + 1]
    shutil.copytree(run / RESULTS, results_dir)
    shutil.rmtree(results_dir / "figures" / "paper")
    (tmp_path / NOTEBOOK).parent.mkdir(parents=True)
    shutil.copy(ROOT / NOTEBOOK, tmp_path / NOTEBOOK)
    proc = subprocess.run([sys.executable, "-m", *command], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, (f"{' '.join(command)}:\n{proc.stdout[-3000:]}\n"
                                  f"{proc.stderr[-3000:]}")
    for name in plots.PAPER_FIGURES:
        for ext in ("pdf", "png"):
            made = (results_dir / "figures" / "paper" / f"{name}.{ext}").read_bytes()
            assert made == (run / PAPER / f"{name}.{ext}").read_bytes(), f"{name}.{ext}"


def _drawn_texts(fig) -> list:
    """Every non-empty text matplotlib draws: titles, labels, drawn tick labels, legends."""
    texts = list(fig.texts)
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        if legend is not None:
            texts += [*legend.get_texts(), legend.get_title()]
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            texts += [axis.label, axis.offsetText]
            for tick in axis._update_ticks():  # the ticks inside the view, i.e. the drawn ones
                texts += [tick.label1, tick.label2]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _figures(loaded):
    yield "targets", plots.target_traces(loaded.targets, loaded.features)
    yield "landscape", plots.feature_landscape(loaded.landscape, loaded.features)
    yield "convergence_seeds", plots.convergence_over_seeds(loaded.fits)
    yield "recovery", plots.recovery(loaded.summary)
    yield "cost", plots.cost(loaded.summary)


def test_figures_cover_every_name(loaded):
    assert [name for name, fig in _figures(loaded)] == list(plots.PAPER_FIGURES)


@pytest.mark.parametrize("index", range(len(plots.PAPER_FIGURES)))
def test_no_text_overlaps_or_leaves_the_figure(loaded, index):
    name, fig = next(itertools.islice(_figures(loaded), index, None))
    fig.set_dpi(300)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in _drawn_texts(fig)]
    assert len(boxes) > 5
    inside = fig.bbox.padded(1)
    for text, box in boxes:
        assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1), \
            f"{name}: {text!r} leaves the figure"
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.padded(-0.5).overlaps(box_b.padded(-0.5)), \
            f"{name}: {a!r} overlaps {b!r}"
    plt.close(fig)


def test_backends_have_the_same_colour_in_every_figure(loaded):
    allowed = {matplotlib.colors.to_rgb(c) for c in
               [*plots.BACKEND_COLORS.values(), plots.TARGET_COLOR]}
    seen = set()
    for name, fig in _figures(loaded):
        colours = [line.get_color() for line in fig.findobj(matplotlib.lines.Line2D)]
        colours += [tuple(c) for col in fig.findobj(matplotlib.collections.PolyCollection)
                    for c in col.get_facecolor()]
        colours += [p.get_facecolor() for ax in fig.axes for p in ax.patches]
        for colour in colours:
            rgb = matplotlib.colors.to_rgb(colour)
            if len(set(np.round(rgb, 6))) > 1:  # not black, white or grey
                assert rgb in allowed, f"{name}: colour {colour} is not a backend's or targets'"
                seen.add(rgb)
        plt.close(fig)
    assert {matplotlib.colors.to_rgb(plots.BACKEND_COLORS[b]) for b in BLOCK["backends"]} <= seen


def test_report_has_every_paper_figure_with_its_caption(run):
    snakemake(run, "--report", "results/report.html", config=SMALL)
    html = (run / "results/report.html").read_text(errors="replace")
    for number in range(1, len(plots.PAPER_FIGURES) + 1):
        assert f"Paper figure {number}." in html
    assert "Paper figures" in html and EXP in html


@pytest.fixture
def results_copy(run, tmp_path):
    return Path(shutil.copytree(run / RESULTS, tmp_path / EXP,
                                ignore=shutil.ignore_patterns("figures", "notebooks")))


@pytest.mark.parametrize("missing", ["fits/nevergrad/C=150/seed=0.nc", "targets/C=138/seed=0.nc",
                                     "scan.nc", "summary.csv"])
def test_missing_results_file_is_named(results_copy, missing):
    (results_copy / missing).unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(results_copy / missing))):
        results.load(results_copy)


def test_missing_results_dir_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nowhere"))):
        results.load(tmp_path / "nowhere")


def test_notebook_names_a_missing_file(results_copy):
    (results_copy / "fits/grad/C=138/seed=0.nc").unlink()
    proc = papermill(ROOT, results_copy.parent / "out.ipynb", "-p", "results_dir",
                     str(results_copy), "-p", "output_dir", str(results_copy / "figures"),
                     check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "FileNotFoundError" in out and "fits/grad/C=138/seed=0.nc" in out, out[-2000:]
    assert not (results_copy / "figures").exists()


def test_files_of_an_earlier_config_are_ignored(results_copy, loaded):
    """A fit left over from a config with another truth is not in the summary, so not drawn."""
    old = xr.load_dataset(results_copy / "fits/grad/C=150/seed=0.nc")
    old.attrs.update({"target": "C=160", "truth": 160.0, "truth.C": 160.0})
    io.write_netcdf(old, results_copy / "fits/grad/C=160/seed=0.nc")
    again = results.load(results_copy)
    assert len(again.fits) == len(loaded.fits) == len(again.summary)
    assert 160.0 not in {float(f.attrs["truth"]) for f in again.fits}
