"""Figures of a network fitted to a recording's channels (the sensor kind): the channel spectra of
target and fits per channel group, topographic maps of alpha power (MNE) and the sensor FC.

They read a target dataset (``psd`` on frequency x channel, ``alpha_power``, ``fc``, the
electrodes' positions, ``group.<name>`` attrs) and fit records (``model_psd``,
``model_alpha_power``, ``model_fc``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from eegfit.plots.recording import RECORDING_COLOR
from eegfit.plots.style import DOUBLE_COLUMN_IN, STYLE, color, figure, placeholder


def groups(target) -> dict[str, list[str]]:
    """The channel groups the target names (``group.<name>`` attrs), else one of every channel."""
    out = {k.partition(".")[2]: str(v).split(",") for k, v in target.attrs.items()
           if k.startswith("group.") and v}
    return out or {"all channels": [str(c) for c in target["channel"].values]}


def _fitted(fits, var):
    return [f for f in fits if var in f]


def spectra_by_group(target, fits, band_hz) -> plt.Figure:
    """One panel per channel group: the mean PSD of its channels, the recording's and each fit's,
    each divided by its own montage-wide mean power in ``band_hz`` (one gain for the montage, as
    the likelihood: the groups' relative levels are the model's), log scale, the band shaded."""
    named = groups(target)
    freqs = target["frequency"].values
    band = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
    show = (freqs >= 0.5 * band_hz[0]) & (freqs <= min(freqs[-1], 1.25 * band_hz[1]))
    channels = [str(c) for c in target["channel"].values]

    def level(psd):
        return np.mean(psd[band])

    with plt.rc_context(STYLE):
        n = len(named)
        cols = min(n, 3)
        rows = int(np.ceil(n / cols))
        fig, axes = figure(DOUBLE_COLUMN_IN, 2.0 * rows + 0.4, nrows=rows, ncols=cols,
                           sharex=True, sharey=True, squeeze=False)
        target_psd = target["psd"].values
        for ax, (name, members) in zip(axes.ravel(), named.items()):
            idx = [channels.index(m) for m in members if m in channels]
            ax.axvspan(*band_hz, color="0.93", lw=0)
            ax.semilogy(freqs[show], target_psd[show][:, idx].mean(axis=1) / level(target_psd),
                        color=RECORDING_COLOR, label="recording")
            for fit in _fitted(fits, "model_psd"):
                model = fit["model_psd"].values
                ax.semilogy(freqs[show], model[show][:, idx].mean(axis=1) / level(model), "--",
                            color=color(fit.attrs["backend"]),
                            label=f"model, {fit.attrs['backend']} fit")
            ax.set_title(f"{name} ({len(idx)} channels)")
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("frequency (Hz)")
        for ax in axes[:, 0]:
            ax.set_ylabel("PSD / montage mean")
        axes.ravel()[0].legend(loc="upper right", fontsize="small")
        fig.suptitle(f"channel spectra, target {target.attrs.get('target', '')}: recording and "
                     f"fits (one gain for the montage)")
    return fig


def info_of(target):
    """An MNE Info of the target's channels with the montage of their own positions."""
    import mne  # noqa: PLC0415

    from eegfit.data.montage import to_mne  # noqa: PLC0415

    names = [str(c) for c in target["channel"].values]
    pos = np.column_stack([target[f"position_{a}"].values for a in "xyz"])
    info = mne.create_info(names, float(target.attrs.get("sfreq_hz", 100.0)), "eeg")
    info.set_montage(to_mne(names, pos))
    return info


def alpha_topomaps(target, fits, alpha_hz) -> plt.Figure:
    """Topographic maps (MNE) of relative alpha power: the recording's and each fit's model, on
    one colour scale."""
    import mne  # noqa: PLC0415

    fitted = _fitted(fits, "model_alpha_power")
    maps = [("recording", target["alpha_power"].values)] + [
        (f"model, {f.attrs['backend']} fit", f["model_alpha_power"].values) for f in fitted]
    info = info_of(target)
    vmin = min(float(np.min(m)) for _, m in maps)
    vmax = max(float(np.max(m)) for _, m in maps)
    with plt.rc_context(STYLE):
        fig, axes = figure(DOUBLE_COLUMN_IN, 2.6, ncols=len(maps), squeeze=False)
        for ax, (title, values) in zip(axes[0], maps):
            im, _ = mne.viz.plot_topomap(values, info, axes=ax, show=False, vlim=(vmin, vmax),
                                         cmap="viridis", contours=0, sensors=True)
            ax.set_title(title)
        fig.colorbar(im, ax=list(axes[0]), shrink=0.8,
                     label=f"power {alpha_hz[0]:g}-{alpha_hz[1]:g} Hz / total")
        fig.suptitle(f"alpha power on the scalp, target {target.attrs.get('target', '')}")
    return fig


def sensor_fc(target, fits) -> plt.Figure:
    """The sensor FC (the target's ``fc``: the alpha envelope FC, or the ``fc`` block's measure
    and band) of the recording and of each fit's model, with the correlation of their entries
    over the pairs the misfit compares (``fc_pairs``; every pair without it); pairs outside
    them are grey."""
    fitted = _fitted(fits, "model_fc")
    if "fc" not in target:
        return placeholder("no sensor FC in the target")
    order = np.argsort(-target["position_x"].values, kind="stable")  # front to back
    n = target["fc"].shape[0]
    pairs = (target["fc_pairs"].values if "fc_pairs" in target else np.triu(np.ones((n, n)), 1))
    pairs = (pairs + pairs.T)[np.ix_(order, order)] > 0
    upper = np.triu(pairs, 1)

    def shown(m):
        return np.where(pairs | np.eye(n, dtype=bool), m[np.ix_(order, order)], np.nan)
    mats = [("recording", shown(target["fc"].values))]
    for f in fitted:
        model = shown(f["model_fc"].values)
        r = float(np.corrcoef(model[upper], mats[0][1][upper])[0, 1])
        fitted_fc = (f"; fitted: Fisher-z RMSE {float(f['fc_misfit']):.2f}"
                     if "fc_misfit" in f else "")
        mats.append((f"model, {f.attrs['backend']} fit\nr = {r:.2f} with the recording"
                     f"{fitted_fc}", model))
    label = target["fc"].attrs.get("long_name", "sensor FC")
    with plt.rc_context(STYLE):
        fig, axes = figure(DOUBLE_COLUMN_IN, 2.8, ncols=len(mats), squeeze=False)
        cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.85")
        for ax, (title, m) in zip(axes[0], mats):
            im = ax.imshow(m, vmin=-1, vmax=1, cmap=cmap, interpolation="nearest")
            ax.set_title(title)
            ax.set_xlabel("channel, front to back")
        axes[0][0].set_ylabel("channel, front to back")
        fig.colorbar(im, ax=list(axes[0]), shrink=0.8, label=label.split(" in ")[0])
        fig.suptitle(f"sensor FC, {label}, target {target.attrs.get('target', '')}"
                     + ("" if "fc_pairs" not in target else
                        f" ({int(upper.sum())} pairs fitted)"))
    return fig


__all__ = ["alpha_topomaps", "groups", "info_of", "sensor_fc", "spectra_by_group"]


def sensor_kind_figures(kind, fits, targets, scan, summary) -> dict:
    """The sensor kind's figures (its :attr:`~eegfit.experiments.FigureKind.draws`): per
    target recording, the spectra by channel group, the alpha topographies and the sensor FC,
    target against each fit."""
    out = {}
    for ds in targets:
        name = ds.attrs["target"]
        mine = [f for f in fits if f.attrs["target"] == name]
        out[f"sensor_spectra_{name}"] = spectra_by_group(ds, mine, kind.spec.band_hz)
        out[f"sensor_topomap_{name}"] = alpha_topomaps(ds, mine, kind.spec.alpha_hz)
        out[f"sensor_fc_{name}"] = sensor_fc(ds, mine)
    return out
