# Synthetic targets at known ground truths, and their scalar features.


rule target:
    output:
        "results/targets/{param}={truth}/seed={seed}.nc",
    log:
        "logs/targets/{param}={truth}/seed={seed}.log",
    benchmark:
        "results/benchmarks/targets/{param}={truth}/seed={seed}.tsv"
    params:
        config=subconfig("experiment", "parameter.name", "model", "simulation"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/target.py"


rule features:
    input:
        "results/targets/{param}={truth}/seed={seed}.nc",
    output:
        "results/features/{param}={truth}/seed={seed}.nc",
    log:
        "logs/features/{param}={truth}/seed={seed}.log",
    benchmark:
        "results/benchmarks/features/{param}={truth}/seed={seed}.tsv"
    params:
        config=subconfig("experiment", "simulation", "feature"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/features.py"


rule landscape:
    output:
        "results/landscape/{param}.nc",
    log:
        "logs/landscape/{param}.log",
    benchmark:
        "results/benchmarks/landscape/{param}.tsv"
    params:
        config=subconfig(*FIT_KEYS, "landscape"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    script:
        "../scripts/landscape.py"
