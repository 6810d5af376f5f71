# Collect every fit into one table, and draw the figures a reader looks at.


rule summarize:
    input:
        fits=all_fits(),
        timings=grid("results/timings/{backend}/{param}={truth}/seed={seed}.json", backend=BACKENDS),
    output:
        nc="results/summary.nc",
        csv="results/summary.csv",
    log:
        "logs/summarize.log",
    benchmark:
        "results/benchmarks/summarize.tsv"
    params:
        config=subconfig("experiment", "parameter.name"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/summarize.py"


rule figures:
    input:
        summary="results/summary.nc",
        fits=all_fits(),
        targets=grid("results/targets/{param}={truth}/seed={seed}.nc"),
        landscape=f"results/landscape/{PARAM}.nc",
    output:
        **{
            f"{name}_{ext}": report(
                f"results/figures/{name}.{ext}",
                caption=f"../report/{name}.rst",
                category="Figures",
                labels={"figure": name, "format": ext},
            )
            for name in FIGURES
            for ext in ["pdf", "png"]
        },
    log:
        "logs/figures.log",
    benchmark:
        "results/benchmarks/figures.tsv"
    params:
        config=subconfig("experiment", "parameter.name", "parameter.truths", "feature.name"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/figures.py"
