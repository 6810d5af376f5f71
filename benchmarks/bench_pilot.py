"""The covariance pilot's programs across targets (``likelihood: {covariance: estimated}``): a
target's pilot evaluates the analytic likelihood on a coarse grid and simulates the model's
realisations; a pipeline job makes several targets in one process. Per target: the pilot's wall
time and the XLA programs it compiled (JAX's ``jax_log_compiles``), the persistent compilation
cache off. The first target pays the compilation; with one program per kind (the target's data
and the model's values its arguments) the next ones compile nothing.

Run alone::

    python benchmarks/bench_pilot.py [--quick] [--targets N]

The block is tests/test_recording_pilot.py's (a 20 s demo at C = 135, b fitted, 21 bins of
6-16 Hz, realisations of 4 s at 0.5 ms, a pilot of 96 on a 5-point grid); the targets are its
seeds (each its own fit key), the same file. ``--quick``: a pilot of 84 on a 2-point grid.
Nothing asserts.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE.parent / "tests"))


class _Count(logging.Handler):
    """Counts JAX's "Finished XLA compilation ..." log records."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def emit(self, record):
        if record.getMessage().startswith("Finished XLA compilation"):
            self.n += 1


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--targets", type=int, default=3)
    args = parser.parse_args(argv)

    import jax  # noqa: PLC0415

    jax.config.update("jax_enable_compilation_cache", False)
    from test_recording_pilot import BLOCK, DEMO, NAME  # noqa: PLC0415

    from eegfit import experiments as ex  # noqa: PLC0415
    from eegfit.experiments import runner
    from eegfit.experiments.recording import pilot as covariance_pilot  # noqa: PLC0415

    block = copy.deepcopy(BLOCK)
    block["model"]["params"] = {"C": 135.0}
    block["seeds"] = list(range(args.targets))
    if args.quick:
        block["likelihood"].update(pilot_realisations=84, pilot_grid_points=2)
    count = _Count()
    for name in ("jax._src.interpreters.pxla", "jax._src.dispatch"):
        logging.getLogger(name).addHandler(count)
    jax.config.update("jax_log_compiles", True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        kind = ex.build(NAME, block)
        Path(DEMO).parent.mkdir(parents=True)
        kind.make_input("demo", Path(DEMO))
        analytic = ex.build(NAME, {**block, "likelihood": {"covariance": "analytic"}})
        for target in kind.targets():
            ds = runner.make_target(analytic, target)  # the target without its pilot
            observed = kind._observed(ds, None)
            before, start = count.n, time.perf_counter()
            covariance_pilot.excess_dataset(kind, target, observed)
            rows.append({"seed": target.seed, "wall_s": time.perf_counter() - start,
                         "compiled": count.n - before})
    load = os.getloadavg()
    print(f"pilot per target ({block['likelihood']['pilot_realisations']} realisations, "
          f"{block['likelihood']['pilot_grid_points']}-point grid), load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    for row in rows:
        print(f"  seed {row['seed']}: {row['wall_s']:6.2f} s, {row['compiled']} programs compiled")
    return {"rows": rows, "load_average": load}


if __name__ == "__main__":
    main()
