# Helpers of the optional experiment blocks (multi.smk, network.smk): no rules here.


def multi_fits(kind="fits", ext="nc"):
    """One path per (backend, truth, seed) of the multi experiment."""
    return [
        f"results/multi/{kind}/{b}/{label}/seed={s}.{ext}"
        for b in MULTI_BACKENDS
        for label in MULTI_LABELS
        for s in MULTI_SEEDS
    ]



NETWORK_FIGURES = ["fc_matrices", "fc_vs_k", "convergence"]
NETWORK_KEYS = ("network.experiment", "network.connectome", "network.model",
                "network.parameter.name", "network.parameter.bounds", "network.simulation")


def network_paths(kind, backend=None, ext="nc"):
    """One path per (truth, seed) of the network experiment: results/network/KIND/[BACKEND/]."""
    cfg = config["network"]
    name = cfg["parameter"]["name"]
    folder = f"results/network/{kind}/{backend}" if backend else f"results/network/{kind}"
    return [
        f"{folder}/{name}={float(t):g}/seed={int(s)}.{ext}"
        for t in cfg["parameter"]["truths"]
        for s in cfg["seeds"]
    ]
