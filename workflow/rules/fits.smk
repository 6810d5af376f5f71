# Fits per backend, one job per chunk of (truth, seed) pairs, one NetCDF per fit; each fit's wall
# time goes to a JSON beside it, not into the NetCDF.

for backend in BACKENDS:
    for i, chunk in enumerate(CHUNKS):

        rule:
            name:
                f"fit_{backend}_{i}"
            input:
                features=[path("features", t, s) for t, s in chunk],
            output:
                fits=[path("fits", t, s, backend) for t, s in chunk],
                timings=[path("timings", t, s, backend) for t, s in chunk],
            log:
                f"logs/fits/{backend}/chunk{i}.log",
            benchmark:
                f"results/benchmarks/fits/{backend}/chunk{i}.tsv"
            params:
                config=subconfig(*FIT_KEYS, f"backends.{backend}"),
                backend=backend,
            threads: 1
            resources:
                mem_mb=2000,
                runtime=30,
            conda:
                ENV
            script:
                "../scripts/fit.py"
