# The paper's figures: a parameterized notebook (papermill) that reads the results files alone.

PAPER_FIGURES = ["targets", "landscape", "convergence_seeds", "recovery", "cost"]
PAPER_FORMATS = ["pdf", "png"]
PAPER_OUTPUTS = [
    "results/notebooks/paper_figures.ipynb",
    *expand("results/figures/paper/{name}.{ext}", name=PAPER_FIGURES, ext=PAPER_FORMATS),
]


rule paper_figures:
    input:
        notebook="workflow/notebooks/paper_figures.ipynb",
        summary="results/summary.csv",
        fits=all_fits(),
        targets=grid("results/targets/{param}={truth}/seed={seed}.nc"),
        features=grid("results/features/{param}={truth}/seed={seed}.nc"),
        landscape=f"results/landscape/{PARAM}.nc",
    output:
        notebook="results/notebooks/paper_figures.ipynb",
        **{
            f"{name}_{ext}": report(
                f"results/figures/paper/{name}.{ext}",
                caption=f"../report/paper_{name}.rst",
                category="Paper figures",
                labels={"figure": name, "format": ext},
            )
            for name in PAPER_FIGURES
            for ext in PAPER_FORMATS
        },
    log:
        "logs/paper_figures.log",
    benchmark:
        "results/benchmarks/paper_figures.tsv"
    params:
        formats=",".join(PAPER_FORMATS),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        ENV
    script:
        "../scripts/paper_figures.py"
