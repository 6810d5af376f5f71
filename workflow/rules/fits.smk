# One fit per backend, ground truth and seed; its wall time goes to a JSON beside, not the NetCDF.


rule fit:
    input:
        target="results/targets/{param}={truth}/seed={seed}.nc",
        features="results/features/{param}={truth}/seed={seed}.nc",
    output:
        fit="results/fits/{backend}/{param}={truth}/seed={seed}.nc",
        timing="results/timings/{backend}/{param}={truth}/seed={seed}.json",
    log:
        "logs/fits/{backend}/{param}={truth}/seed={seed}.log",
    benchmark:
        "results/benchmarks/fits/{backend}/{param}={truth}/seed={seed}.tsv"
    params:
        config=lambda wc: subconfig(*FIT_KEYS, f"backends.{wc.backend}"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        ENV
    script:
        "../scripts/fit.py"
