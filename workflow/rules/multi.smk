# Second experiment (config block `multi`): several parameters of one column fitted at once from
# several features, with a Laplace (Hessian) uncertainty per fit and the loss surface over the box.
# Outputs under results/multi/; nothing here runs when the config has no `multi` block.

MULTI = config.get("multi")
MULTI_OUTPUTS = []

if MULTI:
    MULTI.setdefault("model", {"params": {}})
    MULTI.setdefault("uncertainty", {"rel_sd": 0.01})
    MULTI.setdefault("surface", {"n_points": 31})
    MULTI_NAMES = [p["name"] for p in MULTI["parameters"]]
    MULTI_LABELS = [
        "_".join(f"{n}={float(v):g}" for n, v in zip(MULTI_NAMES, truth))
        for truth in MULTI["truths"]
    ]
    MULTI_SEEDS = [int(s) for s in MULTI["seeds"]]
    MULTI_BACKENDS = list(MULTI["backends"])
    MULTI_FIGURES = ["loss_surface", "convergence"]
    MULTI_KEYS = ("multi.experiment", "multi.parameters", "multi.model", "multi.simulation",
                  "multi.features")

    MULTI_OUTPUTS = [
        "results/multi/summary.nc",
        "results/multi/summary.csv",
        *expand("results/multi/figures/{name}.{ext}", name=MULTI_FIGURES, ext=["pdf", "png"]),
    ]

    rule multi_targets:
        output:
            [f"results/multi/targets/{label}.nc" for label in MULTI_LABELS],
        log:
            "logs/multi/targets.log",
        benchmark:
            "results/benchmarks/multi/targets.tsv"
        params:
            config=subconfig(*MULTI_KEYS, "multi.truths"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/multi_targets.py"

    for backend in MULTI_BACKENDS:

        rule:
            name:
                f"multi_fit_{backend}"
            input:
                targets=[f"results/multi/targets/{label}.nc" for label in MULTI_LABELS],
            output:
                fits=[f for f in multi_fits() if f"/fits/{backend}/" in f],
                timings=[f for f in multi_fits("timings", "json") if f"/timings/{backend}/" in f],
            log:
                f"logs/multi/fits/{backend}.log",
            benchmark:
                f"results/benchmarks/multi/fits/{backend}.tsv"
            params:
                config=subconfig(*MULTI_KEYS, "multi.truths", "multi.uncertainty",
                                 f"multi.backends.{backend}"),
                backend=backend,
                seeds=MULTI_SEEDS,
            threads: 1
            resources:
                mem_mb=2000,
                runtime=30,
            conda:
                ENV
            script:
                "../scripts/multi_fit.py"

    rule multi_surface:
        input:
            targets=[f"results/multi/targets/{label}.nc" for label in MULTI_LABELS],
        output:
            [f"results/multi/surface/{label}.nc" for label in MULTI_LABELS],
        log:
            "logs/multi/surface.log",
        benchmark:
            "results/benchmarks/multi/surface.tsv"
        params:
            config=subconfig(*MULTI_KEYS, "multi.truths", "multi.surface"),
        threads: 1
        resources:
            mem_mb=3000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/multi_surface.py"

    rule multi_summary:
        input:
            fits=multi_fits(),
            timings=multi_fits("timings", "json"),
        output:
            nc="results/multi/summary.nc",
            csv="results/multi/summary.csv",
        log:
            "logs/multi/summary.log",
        benchmark:
            "results/benchmarks/multi/summary.tsv"
        params:
            config=subconfig("multi.experiment", "multi.parameters"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/multi_summary.py"

    rule multi_figures:
        input:
            surfaces=[f"results/multi/surface/{label}.nc" for label in MULTI_LABELS],
            fits=multi_fits(),
        output:
            **{
                f"{name}_{ext}": report(
                    f"results/multi/figures/{name}.{ext}",
                    caption=f"../report/multi_{name}.rst",
                    category="Multi-parameter fit",
                    labels={"figure": name, "format": ext},
                )
                for name in MULTI_FIGURES
                for ext in ["pdf", "png"]
            },
        log:
            "logs/multi/figures.log",
        benchmark:
            "results/benchmarks/multi/figures.tsv"
        params:
            config=subconfig("multi.experiment", "multi.parameters"),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/multi_figures.py"
