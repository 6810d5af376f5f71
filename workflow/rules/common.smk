# The config read into experiments (every key checked, each error naming its path, before any
# job runs; a job gets its experiment's checked spec, params.job, never the config), the result
# paths, and one rule maker, job(), which sets what every rule shares (log, benchmark, threads,
# resources, conda) once.
import os
from pathlib import Path

from eegfit.experiments import Job, depends, load
from eegfit.experiments import base as protocols  # the optional capabilities of a kind
from eegfit.experiments.chunks import chunk_targets

EXPERIMENTS = load(config)  # an old-shape config is refused here, with the new shape shown
JOBS = {name: Job(kind.spec, config.get("runtime", {}).get("jax_cache_dir"))
        for name, kind in EXPERIMENTS.items()}  # what a job gets (params.job), not the config
ENV = "../../envs/eegfit.yaml"
STAGES = {  # stage -> (threads, resources)
    "input": (1, {"mem_mb": 2000, "runtime": 10}),
    "targets": (1, {"mem_mb": 2000, "runtime": 20}),
    "fit": (1, {"mem_mb": 4000, "runtime": 60}),
    "scan": (1, {"mem_mb": 4000, "runtime": 30}),
    "posterior": (1, {"mem_mb": 4000, "runtime": 60}),
    "npe": (1, {"mem_mb": 4000, "runtime": 60}),
    "summary": (1, {"mem_mb": 1000, "runtime": 10}),
    "figures": (1, {"mem_mb": 2000, "runtime": 10}),
    "paper": (1, {"mem_mb": 2000, "runtime": 15}),
}


def job(name, stage, script_name, where, input=(), output=(), params=None):
    """Define the job ``name``, which runs workflow/scripts/<script_name>.py on ``input`` and
    ``output`` (each a path, a list, a dict of named ones or an input function), with what every
    job shares, set here once: its log logs/<where>.log and benchmark
    results/benchmarks/<where>.tsv (``where``, the path's parts, mirrors the outputs), the
    threads and resources of its ``stage`` (STAGES), the conda env. Defined in a function, each
    call binds its own script path (Snakemake reads ``script`` when the job runs, so rules made
    directly in a loop would all run the last loop's script; a parameter named ``script`` would
    hide the function that runs it)."""
    inputs, named_inputs = _split(input)
    outputs, named_outputs = _split(output)
    stage_threads, stage_resources = STAGES[stage]
    path = f"../scripts/{script_name}.py"

    rule:
        name:
            name
        input:
            *inputs,
            **named_inputs,
        output:
            *outputs,
            **named_outputs,
        log:
            os.path.join("logs", *where) + ".log",
        benchmark:
            os.path.join("results", "benchmarks", *where) + ".tsv"
        params:
            **(params or {}),
        threads: stage_threads
        resources:
            **stage_resources,
        conda:
            ENV
        script:
            path


def job_params(kind, stage, chunk=None, backend=None, spec=True):
    """The params of a job of the experiment of ``kind``: the part of its block the job's
    outputs depend on (``config``: the rerun trigger, :func:`eegfit.experiments.depends` of
    ``stage``), its name, its spec (``job``; ``spec=False`` for a job that builds no Kind), and
    a ``chunk``'s targets as (label, seed) pairs."""
    name = kind.spec.name
    out = {"config": depends(kind, stage, backend), "experiment": name}
    out.update({"job": JOBS[name]} if spec else {})
    out.update({"backend": backend} if backend is not None else {})
    out.update({"targets": [(t.label, t.seed) for t in chunk]} if chunk is not None else {})
    return out


def by_wildcard(stage):
    """The params of a job whose experiment is a wildcard: the part of the block its outputs
    depend on (the rerun trigger, :func:`eegfit.experiments.depends`) and its spec."""
    return {"config": lambda wc: depends(EXPERIMENTS[wc.experiment], stage),
            "job": lambda wc: JOBS[wc.experiment]}


def _split(files):
    """(positional, named) files of a rule's input or output given as one of :func:`job`'s."""
    if isinstance(files, dict):
        return [], files
    return ([files] if isinstance(files, str) or callable(files) else list(files)), {}


def result(experiment, kind, target=None, backend=None, ext="nc"):
    """results/<experiment>/<kind>/[<backend>/]<label>/seed=<seed>.<ext> of one target."""
    parts = ["results", experiment, kind, backend, target.label, f"seed={target.seed}.{ext}"]
    return os.path.join(*(p for p in parts if p))


def chunks(experiment):
    """The experiment's targets in chunks (config batching.chunk_size, default auto: one per CPU
    core): one job fits a chunk in one process as one batch, one NetCDF per target and fit."""
    size = config.get("batching", {}).get("chunk_size", "auto")
    return chunk_targets(EXPERIMENTS[experiment].targets(), size)


def chunk_manifest(experiment, i):
    """results/<experiment>/targets/chunk<i>.json: the paths of a chunk's targets, written by its
    targets job after them. A fit job reads its targets through it: with the targets themselves as
    inputs, Snakemake's record of each of the job's outputs held every input and its checksum,
    a cost that grew with the square of the chunk (38 ms per output at 250 targets)."""
    return os.path.join("results", experiment, "targets", f"chunk{i}.json")


def backends(experiment):
    return [b.name for b in EXPERIMENTS[experiment].spec.backends]


def retried_above_others(experiment, backend):
    """Whether the backend's fits are checked against the other backends' of the same targets
    (backends.grad.retry_above_others): its fit jobs then write first attempts, and a job per
    chunk after every backend's writes the fits (eegfit.experiments.retry_above)."""
    return EXPERIMENTS[experiment].spec.backend(backend).retry_above_others


def fit_stage(experiment, backend, kind="fits"):
    """Where a fit job writes its records (kind "fits") or timings ("timings"): the results'
    own folder, or first_attempts/ where a retry above the other backends writes the fits."""
    return f"first_attempts/{kind}" if retried_above_others(experiment, backend) else kind


def has_scan(experiment):
    return protocols.has_scan(EXPERIMENTS[experiment])


def figures(experiment):
    """The experiment's figures: the common ones and its kind's own."""
    return [*COMMON_FIGURES, *kind_figures(experiment)]


COMMON_FIGURES = ["convergence", "comparison"]  # every kind's, from its summary.nc alone


def kind_figures(experiment):
    """The kind's own figures (a job of their own, beside the summary and the common ones)."""
    return list(protocols.figure_names(EXPERIMENTS[experiment]))


def figure_outputs(experiment, names):
    """The report() outputs ``<name>_<ext>`` of figures ``names`` of the experiment."""
    return {f"{fig}_{ext}": report(f"results/{experiment}/figures/{fig}.{ext}",
                                   caption=caption(fig), category=experiment,
                                   labels={"figure": fig, "format": ext})
            for fig in names for ext in ["pdf", "png"]}


def posterior_on(experiment):
    """Whether the experiment's posterior: block is on."""
    return EXPERIMENTS[experiment].spec.posterior is not None


def all_posteriors(experiment):
    """results/<experiment>/posteriors/<label>/seed=<seed>.nc of every target (none when off)."""
    if not posterior_on(experiment):
        return []
    return [result(experiment, "posteriors", t) for t in EXPERIMENTS[experiment].targets()]


def posterior_starts(experiment, chunk):
    """NUTS chains start from the nevergrad fits where that backend runs (no input otherwise)."""
    spec = EXPERIMENTS[experiment].spec
    if spec.posterior.method != "nuts" or "nevergrad" not in backends(experiment):
        return []
    return [result(experiment, "fits", t, "nevergrad") for t in chunk]


def npe_on(experiment):
    """Whether the experiment's npe: block is on (it needs its posterior: block)."""
    return EXPERIMENTS[experiment].spec.npe is not None


def all_npe_posteriors(experiment):
    """results/<experiment>/npe/posteriors/<label>/seed=<seed>.nc of every target (none when off)."""
    if not npe_on(experiment):
        return []
    return [result(experiment, "npe/posteriors", t) for t in EXPERIMENTS[experiment].targets()]


def npe_figures(experiment):
    """The NPE figures: SBC rank histograms, the coverage curve, NPE vs grid per target."""
    return ["npe_sbc", "npe_coverage", "npe_vs_grid"] if npe_on(experiment) else []


def has_verdict(experiment):
    """One parameter and verdict_points > 0: the verdict over the box (posteriors/verdict.nc)."""
    spec = EXPERIMENTS[experiment].spec
    return posterior_on(experiment) and len(spec.parameters) == 1 and \
        spec.posterior.verdict_points > 0


def posterior_figures(experiment):
    """The posterior figures: marginals; a pair plot (two parameters); the verdict strip."""
    if not posterior_on(experiment):
        return []
    n = len(EXPERIMENTS[experiment].spec.parameters)
    return ["posterior", *(["posterior_pairs"] if n == 2 else []),
            *(["identifiability"] if has_verdict(experiment) else [])]


def all_targets(experiment):
    return [result(experiment, "targets", t) for t in EXPERIMENTS[experiment].targets()]


def scan_targets(experiment):
    """The target files the experiment's scan reads (none for a scan of the box alone: it then
    runs beside the fits, and new targets do not rerun it)."""
    return [result(experiment, "targets", t) for t in EXPERIMENTS[experiment].scan_targets()]


def figure_files(experiment, kind):
    """The target files (kind "targets") or fit files ("fits") the kind's own figures draw: a
    few, however many fits (the common figures read the summary alone)."""
    chosen = EXPERIMENTS[experiment].figure_targets()
    if kind == "targets":
        return [result(experiment, "targets", t) for t in chosen]
    return [result(experiment, "fits", t, b) for b in backends(experiment) for t in chosen]


def all_fits(experiment, kind="fits", ext="nc"):
    return [result(experiment, kind, t, b, ext) for b in backends(experiment)
            for t in EXPERIMENTS[experiment].targets()]


def caption(figure):
    """A figure's caption: workflow/report/<stem>.rst for the longest stem of the figure's name
    (cut at underscores: `psd_C125_s0` -> `psd.rst`, a per-target figure), else a generic one."""
    parts = figure.split("_")
    for n in range(len(parts), 0, -1):
        stem = "_".join(parts[:n])
        if Path(workflow.basedir, "workflow", "report", f"{stem}.rst").exists():
            return f"../report/{stem}.rst"
    return "../report/figure.rst"


def all_outputs():
    out = []
    for name in EXPERIMENTS:
        out += all_targets(name)
        out += [f"results/{name}/summary.nc", f"results/{name}/summary.csv"]
        out += expand(f"results/{name}/figures/{{fig}}.{{ext}}", fig=figures(name),
                      ext=["pdf", "png"])
        out += expand(f"results/{name}/figures/{{fig}}.{{ext}}", fig=posterior_figures(name),
                      ext=["pdf", "png"])
        out += expand(f"results/{name}/figures/{{fig}}.{{ext}}", fig=npe_figures(name),
                      ext=["pdf", "png"])
        out += [f"results/{name}/npe/calibration.nc"] if npe_on(name) else []
    return out

