# Third experiment (config block `network`): a network of Jansen-Rit columns on a structural
# connectome, its coupling k fitted to a target functional connectivity by both backends, each fit
# next to the seed-to-seed noise floor. Outputs under results/network/; nothing here runs when
# the config has no `network` block.

NETWORK = config.get("network")
NETWORK_OUTPUTS = []

if NETWORK:
    NETWORK.setdefault("n_realisations", 1)
    NETWORK.setdefault("objective", "fc_rmse")
    NETWORK.setdefault("scan", {"n_points": 21})
    NETWORK_OUTPUTS = [
        "results/network/summary.nc",
        "results/network/summary.csv",
        *expand("results/network/figures/{name}.{ext}", name=NETWORK_FIGURES, ext=["pdf", "png"]),
    ]

    rule network_targets:
        output:
            network_paths("targets"),
        log:
            "logs/network/targets.log",
        benchmark:
            "results/benchmarks/network/targets.tsv"
        params:
            config=subconfig(*NETWORK_KEYS, "network.parameter.truths", "network.seeds"),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/network_targets.py"

    for backend in NETWORK["backends"]:

        rule:
            name:
                f"network_fit_{backend}"
            input:
                targets=network_paths("targets"),
            output:
                fits=network_paths("fits", backend),
                timings=network_paths("timings", backend, "json"),
            log:
                f"logs/network/fits/{backend}.log",
            benchmark:
                f"results/benchmarks/network/fits/{backend}.tsv"
            params:
                config=subconfig(*NETWORK_KEYS, "network.parameter.start", "network.n_realisations",
                                 "network.objective", f"network.backends.{backend}"),
                backend=backend,
            threads: 1
            resources:
                mem_mb=4000,
                runtime=60,
            conda:
                ENV
            script:
                "../scripts/network_fit.py"

    rule network_scan:
        input:
            targets=network_paths("targets"),
        output:
            network_paths("scan"),
        log:
            "logs/network/scan.log",
        benchmark:
            "results/benchmarks/network/scan.tsv"
        params:
            config=subconfig(*NETWORK_KEYS, "network.n_realisations", "network.objective",
                             "network.scan"),
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        conda:
            ENV
        script:
            "../scripts/network_scan.py"

    rule network_summary:
        input:
            fits=[f for b in NETWORK["backends"] for f in network_paths("fits", b)],
            timings=[f for b in NETWORK["backends"] for f in network_paths("timings", b, "json")],
        output:
            nc="results/network/summary.nc",
            csv="results/network/summary.csv",
        log:
            "logs/network/summary.log",
        benchmark:
            "results/benchmarks/network/summary.tsv"
        params:
            config=subconfig("network.experiment", "network.connectome", "network.model",
                             "network.parameter.name"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/network_summary.py"

    rule network_figures:
        input:
            fits=[f for b in NETWORK["backends"] for f in network_paths("fits", b)],
            scans=network_paths("scan"),
            targets=network_paths("targets"),
        output:
            **{
                f"{name}_{ext}": report(
                    f"results/network/figures/{name}.{ext}",
                    caption=f"../report/network_{name}.rst",
                    category="Network fitted to FC",
                    labels={"figure": name, "format": ext},
                )
                for name in NETWORK_FIGURES
                for ext in ["pdf", "png"]
            },
        log:
            "logs/network/figures.log",
        benchmark:
            "results/benchmarks/network/figures.tsv"
        params:
            config=subconfig("network.experiment", "network.parameter.name"),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/network_figures.py"
