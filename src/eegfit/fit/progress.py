"""Progress of a fit, reported per compiled chunk of steps (or per nevergrad step)."""

from __future__ import annotations

import logging
import sys

import numpy as np
from tqdm.auto import tqdm

log = logging.getLogger("eegfit.fit")


class Progress:
    """A progress bar over fit steps showing the best loss so far; also logged at INFO level.

    ``enabled=None`` shows the bar only when stderr is a terminal (interactive use); ``False``
    turns it off. Log records (for pipeline logs) are written whatever the bar does.
    """

    def __init__(self, n_steps: int, label: str, enabled: bool | None = None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.n_steps, self.label, self.done, self.best = n_steps, label, 0, np.inf
        self.bar = tqdm(total=n_steps, desc=label, disable=not enabled, leave=False)

    def update(self, n_new: int, losses) -> None:
        losses = np.asarray(losses, dtype=float)
        finite = losses[np.isfinite(losses)]
        if finite.size:
            self.best = min(self.best, float(finite.min()))
        self.done += n_new
        self.bar.set_postfix(best_loss=f"{self.best:.3g}", refresh=False)
        self.bar.update(n_new)
        log.info("%s: step %d/%d, best loss %.6g", self.label, self.done, self.n_steps, self.best)

    def close(self) -> None:
        self.bar.close()
