# The paper's figures: a parameterized notebook (papermill) that reads one column experiment's
# result files alone (config paper.experiment).


PAPER = config.get("paper", {}).get("experiment")
PAPER_POSTERIOR = PAPER is not None and PAPER in EXPERIMENTS and posterior_on(PAPER)
PAPER_NPE = PAPER is not None and PAPER in EXPERIMENTS and npe_on(PAPER)
PAPER_FIGURES = ["targets", "landscape", "convergence_seeds", "recovery", "cost",
                 *(["posterior"] if PAPER_POSTERIOR else []),
                 *(["npe_sbc", "npe_coverage"] if PAPER_NPE else [])]
PAPER_FORMATS = ["pdf", "png"]
if PAPER is not None and PAPER not in EXPERIMENTS:
    raise ValueError(f"config paper.experiment {PAPER!r} is not an experiment of the config: "
                     f"{sorted(EXPERIMENTS)}")


def paper_outputs():
    """The paper figures of the experiment ``paper.experiment`` names (none without it)."""
    if PAPER is None:
        return []
    return [f"results/{PAPER}/notebooks/paper_figures.ipynb",
            *expand(f"results/{PAPER}/figures/paper/{{name}}.{{ext}}", name=PAPER_FIGURES,
                    ext=PAPER_FORMATS)]


if PAPER is not None:
    job("paper_figures", "paper", "paper_figures", ["paper", PAPER],
        input={"notebook": "workflow/notebooks/paper_figures.ipynb",
               "summary": f"results/{PAPER}/summary.csv",
               "fits": all_fits(PAPER), "targets": all_targets(PAPER),
               "scan": f"results/{PAPER}/scan.nc", "posteriors": all_posteriors(PAPER),
               "verdict": [f"results/{PAPER}/posteriors/verdict.nc"] if has_verdict(PAPER)
               else [],
               "calibration": [f"results/{PAPER}/npe/calibration.nc"] if PAPER_NPE else []},
        output={"notebook": f"results/{PAPER}/notebooks/paper_figures.ipynb",
                **{f"{name}_{ext}": report(f"results/{PAPER}/figures/paper/{name}.{ext}",
                                           caption=f"../report/paper_{name}.rst",
                                           category="Paper figures",
                                           labels={"figure": name, "format": ext})
                   for name in PAPER_FIGURES for ext in PAPER_FORMATS}},
        params={"formats": ",".join(PAPER_FORMATS)})
