"""An experiment's results directory read back, for figures and notebooks that use the files alone.

The directory is ``results/<experiment>/`` of the pipeline (``results/README.md``): ``summary.csv``
says which fits belong to the run (files of an earlier config still lying around are ignored);
the fits, targets and the scan are found by globbing and identified by their attrs (target label,
seed, backend), not by their names. A file the summary needs but that is missing raises
:class:`FileNotFoundError` naming the path it expects.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import xarray as xr


@dataclasses.dataclass(frozen=True)
class Results:
    """Everything the paper figures need from one experiment's results directory.

    Attributes:
        root: the experiment's results directory.
        parameter: the fitted model field (e.g. ``"C"``), from the summary.
        summary: ``summary.csv``, one row per fit, wall times (s) included.
        fits: the fit datasets, in the summary's row order.
        targets: ``(truth, seed) -> target dataset`` (EEG in mV on time in ms, and its features).
        features: the same datasets (the features are scalar variables of the target's file).
        landscape: the features over a grid of the parameter (``scan.nc``).
        posteriors: the posterior files' groups (:func:`eegfit.infer.idata.read`), one per
            (target, seed) of the summary, where the experiment has a posterior block (else
            empty).
        verdict: the identifiability verdict over the box (``posteriors/verdict.nc``), or None.
    """

    root: Path
    parameter: str
    summary: pd.DataFrame
    fits: list[xr.Dataset]
    targets: dict[tuple[float, int], xr.Dataset]
    features: dict[tuple[float, int], xr.Dataset]
    landscape: xr.Dataset
    posteriors: list = dataclasses.field(default_factory=list)
    verdict: xr.Dataset | None = None

    @property
    def config(self) -> dict:
        """The experiment's config block the fits were made with (from the first fit)."""
        return json.loads(self.fits[0].attrs["config_json"])

    @property
    def experiment(self) -> str:
        return str(self.fits[0].attrs["experiment"])


def _index(paths, with_backend: bool = False) -> dict:
    """``(backend?, target, seed) -> path`` of the result files at ``paths``."""
    index = {}
    for path in sorted(paths):
        with xr.open_dataset(path) as ds:
            key = (str(ds.attrs["target"]), int(ds.attrs["seed"]))
            index[(ds.attrs["backend"], *key) if with_backend else key] = path
    return index


def _require(index: dict, key, expected: Path, summary_path: Path) -> Path:
    if key not in index:
        raise FileNotFoundError(f"results file {expected} is missing (the run in "
                                f"{summary_path} lists it); rerun the pipeline to make it")
    return index[key]


def load(results_dir) -> Results:
    """Read the experiment directory ``results_dir`` (``results/<experiment>``) of a run."""
    root = Path(results_dir)
    summary_path = root / "summary.csv"
    if not root.is_dir() or not summary_path.is_file():
        raise FileNotFoundError(f"results file {summary_path} is missing; run the pipeline "
                                f"(snakemake --cores N) first or pass the right results_dir "
                                f"(results/<experiment>)")
    summary = pd.read_csv(summary_path, dtype={"target": str})
    if summary.empty:
        raise ValueError(f"{summary_path} lists no fit")
    parameters = list(dict.fromkeys(summary["parameter"]))
    if len(parameters) != 1:
        raise ValueError(f"{summary_path}: the paper figures draw one fitted parameter, this "
                         f"experiment fits {parameters}")
    fit_index = _index(root.glob("fits/*/*/seed=*.nc"), with_backend=True)
    target_index = _index(root.glob("targets/*/seed=*.nc"))
    fits, targets = [], {}
    for row in summary.itertuples():
        where = f"{row.target}/seed={row.seed}.nc"
        path = _require(fit_index, (row.backend, row.target, int(row.seed)),
                        root / "fits" / row.backend / where, summary_path)
        fits.append(xr.load_dataset(path))
        key = (float(row.truth), int(row.seed))
        if key not in targets:
            targets[key] = xr.load_dataset(_require(target_index, (row.target, int(row.seed)),
                                                    root / "targets" / where, summary_path))
    scan_path = root / "scan.nc"
    if not scan_path.is_file():
        raise FileNotFoundError(f"results file {scan_path} is missing (the run in {summary_path} "
                                f"needs it); rerun the pipeline to make it")
    posteriors, verdict = _posteriors(root, summary, summary_path)
    return Results(root=root, parameter=parameters[0], summary=summary, fits=fits,
                   targets=targets, features=targets, landscape=xr.load_dataset(scan_path),
                   posteriors=posteriors, verdict=verdict)


def _posteriors(root: Path, summary: pd.DataFrame, summary_path: Path):
    """The posterior files of the summary's targets (where its ``posterior_method`` is not
    ``n/a``) and the verdict over the box, if there is one."""
    # "n/a" without a posterior block (which pandas reads as NaN)
    if "posterior_method" not in summary or not summary["posterior_method"].astype(str).isin(
            ("grid", "nuts")).any():
        return [], None
    from eegfit.infer import idata  # noqa: PLC0415

    index = {}
    for path in sorted(root.glob("posteriors/*/seed=*.nc")):
        with xr.open_dataset(path, group="identifiability") as ds:
            index[(str(ds.attrs["target"]), int(ds.attrs["seed"]))] = path
    keys = dict.fromkeys((str(t), int(s)) for t, s in zip(summary["target"], summary["seed"]))
    posteriors = [idata.read(_require(index, key, root / "posteriors" / key[0] /
                                      f"seed={key[1]}.nc", summary_path)) for key in keys]
    verdict_path = root / "posteriors" / "verdict.nc"
    verdict = xr.load_dataset(verdict_path) if verdict_path.is_file() else None
    return posteriors, verdict
