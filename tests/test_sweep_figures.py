"""The common figures of a sweep, drawn from its summary: what they draw is what the fit records
hold (the band's median is the fits' median at each step), they stay one artist per backend
however many fits, no legend covers a panel's data, the axis names the kind's loss, and a panel
with nothing to draw says why. The sweep is small (16 fits, fitted for real in two batches), but
each backend has more fits than the figure draws one by one."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from eegfit import experiments, io, plots  # noqa: E402
from eegfit.experiments import runner, summary  # noqa: E402
from eegfit.experiments.recording import Recording  # noqa: E402
from eegfit.plots.fits import FEW_FITS  # noqa: E402

SWEEP = {
    "kind": "column",
    "parameters": {"C": {"bounds": [110, 170], "start": 115, "truths": [130, 140, 150, 160]}},
    "seeds": [0, 1],
    "model": {"params": {}, "drive": {"kind": "constant", "rate_hz": 220.0}},
    "simulation": {"dt_ms": 0.1, "duration_ms": 300.0, "transient_ms": 100.0},
    "features": {"rms": {}},
    # grad stops at a loss of 1e-2: fits of different lengths, which the band must hold level
    "backends": {"grad": {"optimizer": "adam", "learning_rate": 2.0, "n_steps": 14,
                          "tol": 1e-2},
                 "nevergrad": {"optimizer": "DE", "num_candidates": 4, "n_steps": 3,
                               "options": {"popsize": 4, "initialization": "LHS"}}},
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """``(summary dataset, fit datasets by backend, kind)`` of the 16 fits, each backend's
    chunk fitted as one batch, every record written and the summary made from the files."""
    kind = experiments.build("sweep", SWEEP)
    out = tmp_path_factory.mktemp("sweep")
    targets = kind.targets()
    datasets = [runner.make_target(kind, t) for t in targets]
    paths = []
    for backend in ("grad", "nevergrad"):
        for target, (fit_ds, _) in zip(targets, runner.fit_chunk(kind, backend, targets,
                                                                  datasets)):
            paths.append(io.write_netcdf(fit_ds, out / f"{backend}_{target.label}_"
                                                       f"{target.seed}.nc"))
    table, progress = summary.read(paths)
    ds = summary.to_dataset(table, attrs={"experiment": "sweep"}, progress=progress,
                            loss_label=kind.loss_label)
    back = io.load_netcdf(io.write_netcdf(ds, out / "summary.nc"))
    fits = {}
    for path in paths:
        fit = xr.load_dataset(path)
        fits.setdefault(fit.attrs["backend"], []).append(fit)
    return back, fits, kind


def held(fits, n: int | None = None) -> np.ndarray:
    """(fit, step) best loss so far of fit records, each held at its last value to ``n`` steps
    (default: the longest fit's)."""
    n = n or max(f.sizes["step"] for f in fits)
    return np.stack([np.pad(f["best_loss_so_far"].values, (0, n - f.sizes["step"]), mode="edge")
                     for f in fits])


def panel(fig, backend):
    return next(ax for ax in fig.axes if ax.get_title(loc="left").startswith(f"{backend}:"))


def test_the_sweep_has_more_fits_than_are_drawn_one_by_one_and_fits_of_different_lengths(sweep):
    _, fits, _ = sweep
    assert all(len(mine) > FEW_FITS for mine in fits.values())
    assert len({f.sizes["step"] for f in fits["grad"]}) > 1  # some stopped at tol


def test_band_median_is_the_median_of_the_fits_at_each_step(sweep):
    table, fits, _ = sweep
    fig = plots.convergence(table)
    for backend, mine in fits.items():
        curves = held(mine)
        ax = panel(fig, backend)
        (median,) = [line for line in ax.get_lines() if line.get_gid() == "median"]
        np.testing.assert_array_equal(median.get_xdata(), np.arange(curves.shape[1]))
        np.testing.assert_allclose(median.get_ydata(), np.median(curves, axis=0), rtol=1e-12)
        (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
        corners = band.get_paths()[0].vertices
        low, high = np.percentile(curves, [10, 90], axis=0)  # the 10-90 % band
        for step in range(curves.shape[1]):
            ys = corners[np.isclose(corners[:, 0], step), 1]
            np.testing.assert_allclose([ys.min(), ys.max()], [low[step], high[step]],
                                       rtol=1e-12)
    plt.close(fig)


def test_each_truth_is_one_line_of_one_collection_coloured_by_its_truth(sweep):
    table, fits, _ = sweep
    fig = plots.convergence(table)
    for backend, mine in fits.items():
        ax = panel(fig, backend)
        (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        truths = sorted({float(f.attrs["truth"]) for f in mine})
        np.testing.assert_array_equal(lines.get_array(), truths)
        n = max(f.sizes["step"] for f in mine)
        for truth, segment in zip(truths, lines.get_segments()):
            expected = np.median(held([f for f in mine if float(f.attrs["truth"]) == truth], n),
                                 axis=0)
            np.testing.assert_allclose(segment[:, 1], expected, rtol=1e-12)
        # artists per panel do not grow with the fits: the collection, band, median
        assert len(ax.get_lines()) + len(ax.collections) <= 4, backend
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    plt.close(fig)


def test_a_few_fits_are_drawn_one_by_one(sweep):
    table, fits, _ = sweep
    few = table.isel(fit=np.flatnonzero(table["seed"].values == 0)[::2])  # 2 fits per backend
    fig = plots.convergence(few)
    drawn = [line.get_ydata() for ax in fig.axes for line in ax.get_lines()]
    assert len(drawn) == few.sizes["fit"]
    for row in range(few.sizes["fit"]):
        steps = int(few["n_steps"][row])
        expected = few["best_loss_so_far"].values[row, :steps]
        assert any(np.array_equal(y[:steps], expected) for y in drawn), row
    plt.close(fig)


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("figure", ["convergence", "comparison"])
@pytest.mark.parametrize("fits", ["many", "few"])
def test_no_legend_over_any_axes_data_area(sweep, figure, fits):
    table = sweep[0] if fits == "many" else sweep[0].isel(fit=[0, 1, 8, 9])
    fig = getattr(plots, figure)(table)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert len(legend.get_texts()) <= 4
        for ax in fig.axes:
            assert not _overlaps(box, ax.get_window_extent(renderer)), (ax.get_title(), box)
    plt.close(fig)


def test_the_axis_names_the_kinds_loss_and_its_units(sweep):
    table, _, kind = sweep
    fig = plots.convergence(table)
    label = fig.axes[0].get_ylabel()
    assert kind.loss_label[0] in label and "(dimensionless)" in label
    plt.close(fig)
    # a recording's loss is a negative log likelihood, not a squared relative error
    assert Recording.loss_label[0] != kind.loss_label[0]
    relabelled = table.copy()
    relabelled["best_loss_so_far"].attrs.update(loss=Recording.loss_label[0], units="mV")
    fig = plots.convergence(relabelled)
    assert Recording.loss_label[0] in fig.axes[0].get_ylabel()
    assert "(mV)" in fig.axes[0].get_ylabel()
    assert "relative" not in fig.axes[0].get_ylabel()
    plt.close(fig)


def test_a_panel_with_nothing_to_draw_says_why(sweep):
    table = sweep[0].copy(deep=True)
    nevergrad = table["backend"].values == "nevergrad"
    table["best_loss_so_far"].values[nevergrad] = np.nan
    fig = plots.convergence(table)
    texts = [t.get_text() for t in panel(fig, "nevergrad").texts]
    assert any("no finite loss" in t for t in texts), texts
    fig.canvas.draw()  # the other panel keeps its (shared) y ticks
    assert [t for t in panel(fig, "grad").get_yticklabels() if t.get_text()]
    plt.close(fig)


def test_a_backend_of_one_step_draws_its_points(sweep):
    table = sweep[0].copy(deep=True)
    one = table.isel(step=[0]).assign(n_steps=("fit", np.ones(table.sizes["fit"], int)))
    fig = plots.convergence(one)
    for backend in ("grad", "nevergrad"):
        points = [line for line in panel(fig, backend).get_lines()
                  if line.get_marker() not in (None, "None", "") and len(line.get_xdata())]
        assert points, backend
        median = np.median(one["best_loss_so_far"].values[one["backend"].values == backend, 0])
        assert any(np.isclose(line.get_ydata()[0], median) for line in points), backend
    plt.close(fig)


def test_comparison_draws_every_fit_once_per_panel_as_one_collection_per_backend(sweep):
    table = sweep[0]
    fig = plots.comparison(table)
    top, bottom = fig.axes[0], fig.axes[1]
    assert len(top.collections) == 2 and len(bottom.collections) == 2  # one per backend
    points = np.concatenate([c.get_offsets() for c in top.collections])
    errors = np.concatenate([c.get_offsets() for c in bottom.collections])
    assert len(points) == len(errors) == table.sizes["fit"]
    for truth, fitted in zip(table["truth"].values, table["fitted"].values):
        near = np.abs(points[:, 0] - truth) < 0.01 * truth
        assert np.any(near & np.isclose(points[:, 1], fitted)), (truth, fitted)
        assert np.any(near & np.isclose(errors[:, 1], 100 * (fitted - truth) / truth))
    assert "true C" in bottom.get_xlabel() and "%" in bottom.get_ylabel()
    plt.close(fig)


def test_comparison_without_ground_truth_draws_each_backends_fit_with_its_90_percent_set(sweep):
    """Measured data (issue 22, part 5): per target, each backend's fitted value, with its
    Laplace 90 % set where there is a std and the posterior's set as a band where there is one;
    a panel with neither says so."""
    table = sweep[0].isel(fit=[0, 1, 8, 9]).copy(deep=True)
    table["truth"].values[:] = np.nan
    fig = plots.comparison(table)
    (ax,) = fig.axes
    assert any("no 90 % set" in t.get_text() for t in ax.texts)
    drawn = np.concatenate([c.lines[0].get_ydata() for c in ax.containers])
    np.testing.assert_allclose(np.sort(drawn), np.sort(table["fitted"].values))
    assert "no ground truth" in ax.get_xlabel()
    plt.close(fig)
    table["std"] = ("fit", np.full(4, 0.5))
    table["hds_intervals"] = ("fit", np.array(["[140, 141.5]"] * 4))
    fig = plots.comparison(table)
    (ax,) = fig.axes
    assert not ax.texts
    bars = [seg for c in ax.containers for seg in c.lines[2][0].get_segments()]
    assert all(np.isclose(seg[1, 1] - seg[0, 1], 2 * 1.645 * 0.5) for seg in bars)
    band = [p for p in ax.collections if p.get_label() == "posterior 90 % set"]
    assert band and np.isclose(band[0].get_paths()[0].vertices[:, 1].min(), 140.0)
    plt.close(fig)


def test_eeg_fit_draws_one_row_per_figure_target_with_every_backends_fit(sweep, tmp_path):
    """However many truths and seeds, the kind's eeg_fit draws its figure targets (the first
    seed of at most 4 truths): a row each, the target's EEG and each backend's fitted EEG as
    the records hold them, one legend below the rows."""
    _, fits, kind = sweep
    chosen = kind.figure_targets()
    assert [t.seed for t in chosen] == [0] * 4 and len(kind.targets()) == 8
    datasets = {(t.label, t.seed): runner.make_target(kind, t) for t in chosen}
    records = [f for mine in fits.values() for f in mine
               if (f.attrs["target"], int(f.attrs["seed"])) in datasets]
    scan = runner.scan(kind, [])
    fig = kind.figures(records, list(datasets.values()), scan, None)["eeg_fit"]
    rows = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert len(rows) == len(chosen)
    for ax, target in zip(rows, chosen):
        drawn = [line.get_ydata() for line in ax.get_lines()]
        expected = [datasets[(target.label, 0)]["eeg"].values] + [
            f["fitted_eeg"].values for f in records if f.attrs["target"] == target.label]
        assert len(drawn) == len(expected) == 3
        for y in expected:
            assert any(np.array_equal(np.asarray(d), y) for d in drawn), target.label
    fig.canvas.draw()
    (legend,) = fig.legends
    box = legend.get_window_extent()
    assert not any(_overlaps(box, ax.get_window_extent()) for ax in fig.axes)
    plt.close(fig)


def test_figure_targets_of_a_sweep_are_four_truths_evenly_spread_at_the_first_seed():
    block = {**SWEEP, "seeds": [3, 1],
             "parameters": {"C": {**SWEEP["parameters"]["C"],
                                  "truths": [120 + 5 * i for i in range(10)]}}}
    kind = experiments.build("sweep", block)
    chosen = kind.figure_targets()
    assert [t.truth["C"] for t in chosen] == [120, 135, 150, 165] and {t.seed for t in chosen} \
        == {3}
    assert kind.scan_targets() == []  # one parameter: the scan reads no target
