# Synthetic targets at known ground truths and their scalar features: one job per chunk of
# (truth, seed) pairs (config batching.chunk_size), one NetCDF per target.

for i, chunk in enumerate(CHUNKS):

    rule:
        name:
            f"targets_{i}"
        output:
            targets=[path("targets", t, s) for t, s in chunk],
            features=[path("features", t, s) for t, s in chunk],
        log:
            f"logs/targets/chunk{i}.log",
        benchmark:
            f"results/benchmarks/targets/chunk{i}.tsv"
        params:
            config=subconfig("experiment", "parameter.name", "model", "simulation", "feature"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/targets.py"


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
