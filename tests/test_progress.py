"""A fit reports its progress per compiled chunk (grad) or per step (nevergrad) to the
``eegfit.fit`` logger, and shows a progress bar only when asked (or on a terminal)."""

from __future__ import annotations

import logging

import optax
import pytest

from eegfit import Fitter, JansenRit, Param


def quadratic(model):
    """A loss that needs no simulation, so the fits here cost only their compilation."""
    return ((model.C - 150.0) / 150.0) ** 2, {}


MODEL = JansenRit(C=Param(115.0, bounds=(110.0, 170.0)))


def progress_records(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "eegfit.fit"]


def test_grad_logs_once_per_chunk(caplog):
    fitter = Fitter(MODEL, optax.adam(2.0), loss_fn=quadratic, chunk_size=5)
    with caplog.at_level(logging.INFO, logger="eegfit.fit"):
        fitter.fit(20, progress=False)
    messages = progress_records(caplog)
    assert [m.split(": ")[1].split(",")[0] for m in messages] == [
        "step 5/20", "step 10/20", "step 15/20", "step 20/20"]
    assert all("best loss" in m for m in messages)


def test_nevergrad_logs_once_per_step(caplog):
    fitter = Fitter(MODEL, "DE", loss_fn=quadratic, backend="nevergrad", num_candidates=4,
                    optimizer_options={"popsize": 4})
    with caplog.at_level(logging.INFO, logger="eegfit.fit"):
        fitter.fit(3, seed=0, progress=False)
    assert len(progress_records(caplog)) == 3


@pytest.mark.parametrize("progress", [False, True])
def test_progress_bar_only_when_asked(capsys, progress):
    Fitter(MODEL, optax.adam(2.0), loss_fn=quadratic, chunk_size=5).fit(10, progress=progress)
    err = capsys.readouterr().err
    if progress:
        assert "grad:optax" in err and "/10" in err  # tqdm redraws at most every 0.1 s
    else:
        assert err == ""
