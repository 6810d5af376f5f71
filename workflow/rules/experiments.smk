# One rule set for every experiment of the config, whatever its kind: inputs the pipeline makes
# (a demo recording), targets and fits in chunks (one process per chunk, one NetCDF per target
# and per fit), posteriors where the experiment's posterior: block is on, an NPE (trained once,
# applied to every target, calibrated) where its npe: block is on, the scan over the box,
# the summary table and the figures. The experiment's kind supplies the science
# (eegfit.experiments); nothing here is specific to one kind. Each job is a call of job()
# (common.smk): its name, stage, script, log path, files and params; what every job shares (log,
# benchmark, threads, resources, conda) is set there once.


job("make_input", "input", "make_input", ["inputs", "{experiment}", "{name}"],
    output="results/{experiment}/inputs/{name}", params=by_wildcard("target"))


for name, kind in EXPERIMENTS.items():
    for i, chunk in enumerate(chunks(name)):
        job(f"targets_{name}_{i}", "targets", "targets", ["targets", name, f"chunk{i}"],
            input=list(protocols.generated_inputs(kind)),
            output={"targets": [result(name, "targets", t) for t in chunk],
                    "chunk": chunk_manifest(name, i)},
            params=job_params(kind, "target", chunk))

        for backend in backends(name):
            job(f"fit_{name}_{backend}_{i}", "fit", "fit", ["fits", name, backend, f"chunk{i}"],
                input=chunk_manifest(name, i),
                output={"fits": [result(name, fit_stage(name, backend), t, backend)
                                 for t in chunk],
                        "timings": [result(name, fit_stage(name, backend, "timings"), t, backend,
                                           "json") for t in chunk]},
                params=job_params(kind, "fit", chunk, backend=backend))

            if retried_above_others(name, backend):

                others = [b for b in backends(name) if b != backend]
                job(f"retry_above_{name}_{backend}_{i}", "fit", "retry_above",
                    ["fits", name, backend, f"retry_above_chunk{i}"],
                    input={"manifest": chunk_manifest(name, i),
                           "first": [result(name, fit_stage(name, backend), t, backend)
                                     for t in chunk],
                           "first_timings": [result(name, fit_stage(name, backend, "timings"),
                                                    t, backend, "json") for t in chunk],
                           "others": [result(name, "fits", t, b) for b in others
                                      for t in chunk]},
                    output={"fits": [result(name, "fits", t, backend) for t in chunk],
                            "timings": [result(name, "timings", t, backend, "json")
                                        for t in chunk]},
                    params={**job_params(kind, "fit", chunk, backend=backend),
                            "others": others})

    if posterior_on(name):
        for i, chunk in enumerate(chunks(name)):
            job(f"posterior_{name}_{i}", "posterior", "posterior",
                ["posteriors", name, f"chunk{i}"],
                input={"targets": [result(name, "targets", t) for t in chunk],
                       "starts": posterior_starts(name, chunk)},
                output=[result(name, "posteriors", t) for t in chunk],
                params=job_params(kind, "posterior", chunk))

        verdict = has_verdict(name)
        job(f"posterior_figures_{name}", "figures", "posterior_figures",
            ["figures", name, "posterior"],
            input={"posteriors": all_posteriors(name), "fits": all_fits(name),
                   "verdict": [f"results/{name}/posteriors/verdict.nc"] if verdict else [],
                   "scan": [f"results/{name}/scan.nc"] if verdict and has_scan(name) else []},
            output=figure_outputs(name, posterior_figures(name)),
            params=job_params(kind, "figures"))

    if npe_on(name):
        estimator = {"weights": f"results/{name}/npe/estimator.eqx",
                     "sidecar": f"results/{name}/npe/estimator.json"}
        job(f"npe_train_{name}", "npe", "npe_train", ["npe", name, "train"],
            output=estimator, params=job_params(kind, "npe"))

        for i, chunk in enumerate(chunks(name)):
            job(f"npe_posterior_{name}_{i}", "posterior", "npe_posterior",
                ["npe", name, f"posteriors_chunk{i}"],
                input={"targets": [result(name, "targets", t) for t in chunk], **estimator},
                output=[result(name, "npe/posteriors", t) for t in chunk],
                params=job_params(kind, "npe", chunk))

        job(f"npe_calibration_{name}", "npe", "npe_calibration", ["npe", name, "calibration"],
            input=estimator, output=f"results/{name}/npe/calibration.nc",
            params=job_params(kind, "npe_calibration"))

        job(f"npe_figures_{name}", "figures", "npe_figures", ["figures", name, "npe"],
            input={"calibration": f"results/{name}/npe/calibration.nc",
                   "npe": all_npe_posteriors(name), "grid": all_posteriors(name)},
            output=figure_outputs(name, npe_figures(name)), params=job_params(kind, "npe"))

    job(f"figures_{name}", "figures", "figures", ["figures", name],
        input={"summary": f"results/{name}/summary.nc"},
        output=figure_outputs(name, COMMON_FIGURES),
        params=job_params(kind, "figures", spec=False))  # draws the summary alone: no JAX

    if kind_figures(name):
        job(f"kind_figures_{name}", "figures", "kind_figures", ["figures", name, "kind"],
            input={"fits": figure_files(name, "fits"), "targets": figure_files(name, "targets"),
                   "scan": [f"results/{name}/scan.nc"] if has_scan(name) else [],
                   "summary": [f"results/{name}/summary.nc"] if kind.figures_read_summary
                   else []},
            output=figure_outputs(name, kind_figures(name)), params=job_params(kind, "figures"))


job("scan", "scan", "scan", ["scan", "{experiment}"],
    input=lambda wc: scan_targets(wc.experiment), output="results/{experiment}/scan.nc",
    params=by_wildcard("scan"))

job("posterior_verdict", "posterior", "posterior_verdict",
    ["posteriors", "{experiment}", "verdict"],
    output="results/{experiment}/posteriors/verdict.nc", params=by_wildcard("posterior"))

job("summary", "summary", "summary", ["summary", "{experiment}"],
    input={"fits": lambda wc: all_fits(wc.experiment),
           "timings": lambda wc: all_fits(wc.experiment, "timings", "json"),
           "posteriors": lambda wc: all_posteriors(wc.experiment)},
    output={"nc": "results/{experiment}/summary.nc", "csv": "results/{experiment}/summary.csv"},
    params=by_wildcard("summary"))


wildcard_constraints:
    experiment="|".join(EXPERIMENTS),
