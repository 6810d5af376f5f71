# One rule set for every experiment of the config, whatever its kind: inputs the pipeline makes
# (a demo recording), targets and fits in chunks (one process per chunk, one NetCDF per target
# and per fit), posteriors where the experiment's posterior: block is on, an NPE (trained once,
# applied to every target, calibrated) where its npe: block is on, the scan over the box,
# the summary table and the figures. The experiment's kind
# supplies the science (eegfit.experiments); nothing here is specific to one kind.


rule make_input:
    output:
        "results/{experiment}/inputs/{name}",
    log:
        log("inputs", "{experiment}", "{name}"),
    benchmark:
        bench("inputs", "{experiment}", "{name}")
    params:
        config=lambda wc: depends(EXPERIMENTS[wc.experiment], "target"),
        job=lambda wc: JOBS[wc.experiment],
    threads: threads("input")
    resources:
        **resources("input"),
    conda:
        ENV
    script:
        "../scripts/make_input.py"


for name, kind in EXPERIMENTS.items():
    for i, chunk in enumerate(chunks(name)):

        rule:
            name:
                f"targets_{name}_{i}"
            input:
                [p for p in kind.generated_inputs()],
            output:
                targets=[result(name, "targets", t) for t in chunk],
                chunk=chunk_manifest(name, i),
            log:
                log("targets", name, f"chunk{i}"),
            benchmark:
                bench("targets", name, f"chunk{i}")
            params:
                config=depends(kind, "target"),
                experiment=name,
                job=JOBS[name],
                targets=[(t.label, t.seed) for t in chunk],
            threads: threads("targets")
            resources:
                **resources("targets"),
            conda:
                ENV
            script:
                "../scripts/targets.py"

        for backend in backends(name):

            rule:
                name:
                    f"fit_{name}_{backend}_{i}"
                input:
                    chunk_manifest(name, i),
                output:
                    fits=[result(name, "fits", t, backend) for t in chunk],
                    timings=[result(name, "timings", t, backend, "json") for t in chunk],
                log:
                    log("fits", name, backend, f"chunk{i}"),
                benchmark:
                    bench("fits", name, backend, f"chunk{i}")
                params:
                    config=depends(kind, "fit", backend),
                    experiment=name,
                    job=JOBS[name],
                    backend=backend,
                    targets=[(t.label, t.seed) for t in chunk],
                threads: threads("fit")
                resources:
                    **resources("fit"),
                conda:
                    ENV
                script:
                    "../scripts/fit.py"

    if posterior_on(name):
        for i, chunk in enumerate(chunks(name)):

            rule:
                name:
                    f"posterior_{name}_{i}"
                input:
                    targets=[result(name, "targets", t) for t in chunk],
                    starts=posterior_starts(name, chunk),
                output:
                    [result(name, "posteriors", t) for t in chunk],
                log:
                    log("posteriors", name, f"chunk{i}"),
                benchmark:
                    bench("posteriors", name, f"chunk{i}")
                params:
                    config=depends(kind, "posterior"),
                    experiment=name,
                    job=JOBS[name],
                    targets=[(t.label, t.seed) for t in chunk],
                threads: threads("posterior")
                resources:
                    **resources("posterior"),
                conda:
                    ENV
                script:
                    "../scripts/posterior.py"

        rule:
            name:
                f"posterior_figures_{name}"
            input:
                posteriors=all_posteriors(name),
                fits=all_fits(name),
                verdict=[f"results/{name}/posteriors/verdict.nc"] if has_verdict(name) else [],
                scan=[f"results/{name}/scan.nc"] if has_verdict(name) and has_scan(name) else [],
            output:
                **figure_outputs(name, posterior_figures(name)),
            log:
                log("figures", name, "posterior"),
            benchmark:
                bench("figures", name, "posterior")
            params:
                config=depends(kind, "figures"),
                experiment=name,
                job=JOBS[name],
            threads: threads("figures")
            resources:
                **resources("figures"),
            conda:
                ENV
            script:
                "../scripts/posterior_figures.py"

    if npe_on(name):

        rule:
            name:
                f"npe_train_{name}"
            output:
                weights=f"results/{name}/npe/estimator.eqx",
                sidecar=f"results/{name}/npe/estimator.json",
            log:
                log("npe", name, "train"),
            benchmark:
                bench("npe", name, "train")
            params:
                config=depends(kind, "npe"),
                experiment=name,
                job=JOBS[name],
            threads: threads("npe")
            resources:
                **resources("npe"),
            conda:
                ENV
            script:
                "../scripts/npe_train.py"

        for i, chunk in enumerate(chunks(name)):

            rule:
                name:
                    f"npe_posterior_{name}_{i}"
                input:
                    targets=[result(name, "targets", t) for t in chunk],
                    weights=f"results/{name}/npe/estimator.eqx",
                    sidecar=f"results/{name}/npe/estimator.json",
                output:
                    [result(name, "npe/posteriors", t) for t in chunk],
                log:
                    log("npe", name, f"posteriors_chunk{i}"),
                benchmark:
                    bench("npe", name, f"posteriors_chunk{i}")
                params:
                    config=depends(kind, "npe"),
                    experiment=name,
                    job=JOBS[name],
                    targets=[(t.label, t.seed) for t in chunk],
                threads: threads("posterior")
                resources:
                    **resources("posterior"),
                conda:
                    ENV
                script:
                    "../scripts/npe_posterior.py"

        rule:
            name:
                f"npe_calibration_{name}"
            input:
                weights=f"results/{name}/npe/estimator.eqx",
                sidecar=f"results/{name}/npe/estimator.json",
            output:
                f"results/{name}/npe/calibration.nc",
            log:
                log("npe", name, "calibration"),
            benchmark:
                bench("npe", name, "calibration")
            params:
                config=depends(kind, "npe_calibration"),
                experiment=name,
                job=JOBS[name],
            threads: threads("npe")
            resources:
                **resources("npe"),
            conda:
                ENV
            script:
                "../scripts/npe_calibration.py"

        rule:
            name:
                f"npe_figures_{name}"
            input:
                calibration=f"results/{name}/npe/calibration.nc",
                npe=all_npe_posteriors(name),
                grid=all_posteriors(name),
            output:
                **figure_outputs(name, npe_figures(name)),
            log:
                log("figures", name, "npe"),
            benchmark:
                bench("figures", name, "npe")
            params:
                config=depends(kind, "npe"),
                experiment=name,
                job=JOBS[name],
            threads: threads("figures")
            resources:
                **resources("figures"),
            conda:
                ENV
            script:
                "../scripts/npe_figures.py"

    rule:
        name:
            f"figures_{name}"
        input:
            summary=f"results/{name}/summary.nc",
        output:
            **figure_outputs(name, COMMON_FIGURES),
        log:
            log("figures", name),
        benchmark:
            bench("figures", name)
        params:
            config=depends(kind, "figures"),
            experiment=name,
        threads: threads("figures")
        resources:
            **resources("figures"),
        conda:
            ENV
        script:
            "../scripts/figures.py"

    if kind_figures(name):

        rule:
            name:
                f"kind_figures_{name}"
            input:
                fits=figure_files(name, "fits"),
                targets=figure_files(name, "targets"),
                scan=[f"results/{name}/scan.nc"] if has_scan(name) else [],
                summary=[f"results/{name}/summary.nc"] if kind.figures_read_summary else [],
            output:
                **figure_outputs(name, kind_figures(name)),
            log:
                log("figures", name, "kind"),
            benchmark:
                bench("figures", name, "kind")
            params:
                config=depends(kind, "figures"),
                experiment=name,
                job=JOBS[name],
            threads: threads("figures")
            resources:
                **resources("figures"),
            conda:
                ENV
            script:
                "../scripts/kind_figures.py"


rule scan:
    input:
        lambda wc: scan_targets(wc.experiment),
    output:
        "results/{experiment}/scan.nc",
    log:
        log("scan", "{experiment}"),
    benchmark:
        bench("scan", "{experiment}")
    params:
        config=lambda wc: depends(EXPERIMENTS[wc.experiment], "scan"),
        job=lambda wc: JOBS[wc.experiment],
    threads: threads("scan")
    resources:
        **resources("scan"),
    conda:
        ENV
    script:
        "../scripts/scan.py"


rule posterior_verdict:
    output:
        "results/{experiment}/posteriors/verdict.nc",
    log:
        log("posteriors", "{experiment}", "verdict"),
    benchmark:
        bench("posteriors", "{experiment}", "verdict")
    params:
        config=lambda wc: depends(EXPERIMENTS[wc.experiment], "posterior"),
        job=lambda wc: JOBS[wc.experiment],
    threads: threads("posterior")
    resources:
        **resources("posterior"),
    conda:
        ENV
    script:
        "../scripts/posterior_verdict.py"


rule summary:
    input:
        fits=lambda wc: all_fits(wc.experiment),
        timings=lambda wc: all_fits(wc.experiment, "timings", "json"),
        posteriors=lambda wc: all_posteriors(wc.experiment),
    output:
        nc="results/{experiment}/summary.nc",
        csv="results/{experiment}/summary.csv",
    log:
        log("summary", "{experiment}"),
    benchmark:
        bench("summary", "{experiment}")
    params:
        config=lambda wc: depends(EXPERIMENTS[wc.experiment], "summary"),
        job=lambda wc: JOBS[wc.experiment],
    threads: threads("summary")
    resources:
        **resources("summary"),
    conda:
        ENV
    script:
        "../scripts/summary.py"


wildcard_constraints:
    experiment="|".join(EXPERIMENTS),
