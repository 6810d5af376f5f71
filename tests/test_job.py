"""A workflow job gets its experiment's spec from the planning (``params.job``), never the config:
the job script builds its Kind from the spec alone, after Snakemake's own pickling, and the spec
stays out of Snakemake's rerun trigger (only ``params.config`` counts there)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A fit job as Snakemake runs it: the Snakemake object pickled with protocol 4 (as the script
# preamble does), its config left empty: a job that read the config would fail on it.
JOB = """
import pickle, sys, yaml
sys.path.insert(0, "workflow/scripts")
from snakemake.iocontainers import (InputFiles, Log, OutputFiles, Params, ResourceList,
                                    Snakemake, Wildcards)
from snakemake.persistence import PersistenceBase as Persistence
from eegfit import experiments
from _job import start

config = yaml.safe_load(open(".test/config.yaml"))
config["experiments"]["small_C_rms"]["simulation"]["float64"] = True
planned = experiments.load(config)["small_C_rms"]
job = experiments.Job(planned.spec, jax_cache_dir=None)
params = Params(fromdict={"config": {}, "experiment": "small_C_rms", "job": job})
smk = Snakemake(InputFiles(), OutputFiles(), params, Wildcards(), 1, ResourceList(),
                Log(fromdict={"log": sys.argv[1]}), {}, "fit_small_C_rms_grad_0", 0)
kind = start(pickle.loads(pickle.dumps(smk, protocol=4)))
import jax
assert kind.spec == planned.spec and type(kind) is type(planned), kind
assert jax.config.jax_enable_x64, "the spec's float64 did not reach JAX"
print(Persistence._serialize_param_builtin(None, job) is Persistence._serialize_param_builtin(
    None, object()))
"""


def test_a_job_builds_its_kind_from_the_planned_spec_not_the_config(tmp_path):
    log = tmp_path / "job.log"
    proc = subprocess.run([sys.executable, "-c", JOB, str(log)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-1] == "True", "params.job would count in the rerun trigger"
    assert "job fit_small_C_rms_grad_0 of small_C_rms" in log.read_text()


def test_every_rule_of_a_kind_job_gets_its_spec():
    """Every job whose script builds a Kind (``start(snakemake)``) passes its spec in its params
    (:func:`job_params`, :func:`by_wildcard` in common.smk); the common figures' job, which
    reads NetCDF alone, does not (no JAX)."""
    rules = (ROOT / "workflow" / "rules" / "experiments.smk").read_text()
    scripts = ROOT / "workflow" / "scripts"
    calls = re.split(r"^\s*job\(", rules, flags=re.MULTILINE)[1:]
    for call in calls:
        script = re.match(r'f?"[^"]+", "\w+", "(\w+)",', call).group(1)
        needs_kind = "start(snakemake)" in (scripts / f"{script}.py").read_text()
        gets_spec = "by_wildcard(" in call or ("job_params(" in call and "spec=False" not in call)
        assert gets_spec == needs_kind, script
    assert len(calls) >= 14
    assert "smk.config" not in (scripts / "_job.py").read_text()
