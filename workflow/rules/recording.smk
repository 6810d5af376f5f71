# Measured EEG as targets (config section `recording`, optional): read and preprocess each file,
# its Welch spectra and gain-free features, fits of the named parameters per backend, figures.
# A demo recording (the model at known parameters, 250 Hz, µV, noise) is made when
# `recording.demo` is set, so the default config runs the path without anyone's data.

REC = config.get("recording")
RECORDINGS = list(REC["files"]) if REC else []
REC_BACKENDS = list(REC["backends"]) if REC else []
REC_FIGURES = ["psd", "windows", "convergence"]
REC_READ_KEYS = [f"recording.{k}" for k in ("channels", "units", "reference", "filter",
                                            "windows_s", "features")
                 if REC and k in REC]
REC_SPECTRUM_KEYS = [f"recording.{k}" for k in ("segment_s", "overlap", "features", "channels")
                     if REC and k in REC]
REC_MODEL_KEYS = [f"recording.{k}" for k in ("model", "simulation", "parameters", "seed")
                  if REC and k in REC]


include: "recording_common.smk"


RECORDING_OUTPUTS = [
    *expand("results/recording/{name}/features.nc", name=RECORDINGS),
    *expand("results/recording/{name}/fits/{b}.nc", name=RECORDINGS, b=REC_BACKENDS),
    *expand("results/recording/{name}/figures/{fig}.{ext}", name=RECORDINGS, fig=REC_FIGURES,
            ext=["pdf", "png"]),
]


if REC:

    wildcard_constraints:
        recording="|".join(RECORDINGS),
        rec_backend="|".join(REC_BACKENDS),

    if REC.get("demo"):

        rule recording_demo:
            output:
                REC["demo"]["path"],
            log:
                "logs/recording/demo.log",
            benchmark:
                "results/benchmarks/recording/demo.tsv"
            params:
                config=subconfig("recording.demo", *REC_MODEL_KEYS),
            threads: 1
            resources:
                mem_mb=2000,
                runtime=10,
            conda:
                ENV
            script:
                "../scripts/recording_demo.py"

    rule recording_preprocess:
        input:
            lambda wc: REC["files"][wc.recording],
        output:
            "results/recording/{recording}/preprocessed.nc",
        log:
            "logs/recording/{recording}/preprocess.log",
        benchmark:
            "results/benchmarks/recording/{recording}/preprocess.tsv"
        params:
            config=subconfig(*REC_READ_KEYS),
        threads: 1
        resources:
            mem_mb=4000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/recording_preprocess.py"

    rule recording_features:
        input:
            "results/recording/{recording}/preprocessed.nc",
        output:
            "results/recording/{recording}/features.nc",
        log:
            "logs/recording/{recording}/features.log",
        benchmark:
            "results/benchmarks/recording/{recording}/features.tsv"
        params:
            config=subconfig(*REC_SPECTRUM_KEYS),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/recording_features.py"

    rule recording_fit:
        input:
            "results/recording/{recording}/features.nc",
        output:
            fit="results/recording/{recording}/fits/{rec_backend}.nc",
            timing="results/timings/recording/{recording}/{rec_backend}.json",
        log:
            "logs/recording/{recording}/fit_{rec_backend}.log",
        benchmark:
            "results/benchmarks/recording/{recording}/fit_{rec_backend}.tsv"
        params:
            config=lambda wc: subconfig(*REC_SPECTRUM_KEYS, *REC_MODEL_KEYS,
                                        f"recording.backends.{wc.rec_backend}",
                                        *(["recording.demo"] if REC.get("demo") else [])),
            source=lambda wc: REC["files"][wc.recording],
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        conda:
            ENV
        script:
            "../scripts/recording_fit.py"

    rule recording_figures:
        input:
            features="results/recording/{recording}/features.nc",
            fits=expand("results/recording/{{recording}}/fits/{b}.nc", b=REC_BACKENDS),
        output:
            **{
                f"{fig}_{ext}": report(
                    f"results/recording/{{recording}}/figures/{fig}.{ext}",
                    caption=f"../report/recording_{fig}.rst",
                    category="Recording",
                    subcategory="{recording}",
                    labels={"recording": "{recording}", "figure": fig, "format": ext},
                )
                for fig in REC_FIGURES
                for ext in ["pdf", "png"]
            },
        log:
            "logs/recording/{recording}/figures.log",
        benchmark:
            "results/benchmarks/recording/{recording}/figures.tsv"
        params:
            config=subconfig("experiment", *REC_SPECTRUM_KEYS),
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            ENV
        script:
            "../scripts/recording_figures.py"
