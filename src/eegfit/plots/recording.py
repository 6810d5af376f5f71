"""Figures of a model fitted to a measured recording: the recording's and the fitted models'
spectra, each scalar feature per Welch segment against its fit, and the convergence per backend."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from eegfit.plots.style import (DOUBLE_COLUMN_IN, STYLE, TARGET_COLOR, color, figure, marker,
                                placeholder)

RECORDING_COLOR = "black"  # the recording, never a backend


def _fitted_band(spec: dict | None) -> tuple[float, float]:
    """The widest band the fitted features read (Hz), for shading."""
    from eegfit.signal import features as spectra  # noqa: PLC0415

    bands = [b for _, b in spectra.feature_bands(spec or spectra.DEFAULT_SPECTRUM_FEATURES)]
    return min(b[0] for b in bands), max(b[1] for b in bands)


def recording_psd(features, fits, spec: dict | None = None,
                  band_hz: tuple[float, float] | None = None) -> plt.Figure:
    """The recording's Welch PSD against each fitted model's measured spectrum (its PSD plus, where
    the fit profiled one, its aperiodic background, dotted alone), all normalised over the fitted
    band ``band_hz`` (default: the features'; their absolute scales differ by an unknown gain),
    the band shaded; the recording's spread over segments as a shaded range. The legend sits
    beside the axes, never over the data."""
    low, high = band_hz or _fitted_band(spec)
    freqs = features["frequency"].values
    band = (freqs >= low) & (freqs <= high)
    df = freqs[1] - freqs[0]

    def normalise(power, by=None):
        by = power if by is None else by
        return power / (np.sum(by[..., band], axis=-1, keepdims=True) * df)

    with plt.rc_context(STYLE):
        fig, ax = figure(DOUBLE_COLUMN_IN * 0.75, 2.6)
        seg = normalise(features["psd_segment"].values)
        lo, hi = np.percentile(seg, [16, 84], axis=0)
        show = freqs <= min(freqs[-1], 1.25 * high)
        ax.fill_between(freqs[show], lo[show], hi[show], color="0.85", lw=0,
                        label="recording, segments 16-84 %")
        ax.plot(freqs[show], normalise(features["psd"].values)[show], color=RECORDING_COLOR,
                label=f"recording ({features.attrs.get('channel', '')})")
        for fit in fits:
            if "model_psd" not in fit:
                continue
            backend = fit.attrs["backend"]
            model = fit["model_psd"].values
            background = (fit["model_aperiodic_psd"].values if "model_aperiodic_psd" in fit
                          else None)
            measured = model if background is None else model + np.nan_to_num(background)
            on = show & (freqs >= low)  # the background grows without bound towards 0 Hz
            ax.plot(freqs[on], normalise(measured)[on], "--", color=color(backend),
                    label=f"model, {backend} fit" + ("" if background is None else
                                                      " (with background)"))
            if background is not None:
                ax.plot(freqs[on], normalise(background, measured)[on], ":",
                        color=color(backend), label=f"aperiodic background, {backend} "
                        f"(chi {float(fit['aperiodic_exponent']):.2f})")
        ax.axvspan(low, high, color=TARGET_COLOR, alpha=0.08, lw=0, label="fitted band")
        ax.set_yscale("log")
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel(f"PSD / power in {low:g}-{high:g} Hz (1/Hz)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                  fontsize="small")
    return fig


def _window_panels(features) -> list[tuple[str, str | None, str]]:
    """(feature, band or None, title) of each scalar feature the recording has per segment."""
    panels = []
    if "window_peak_frequency" in features:
        panels.append(("peak_frequency", None, "peak frequency (Hz)"))
    if "window_relative_power" in features:
        panels += [("relative_power", b, f"relative power, {b}")
                   for b in features["band"].values.tolist()]
    return panels


def recording_windows(features, fits) -> plt.Figure:
    """Each scalar feature per Welch segment (dots), the target (mean PSD's value, line) with its
    spread over segments (shaded, the noise floor), and each fit's value (dashed)."""
    panels = _window_panels(features)
    if not panels:
        return placeholder("no scalar feature fitted")
    with plt.rc_context(STYLE):
        ncols = min(3, len(panels))
        nrows = -(-len(panels) // ncols)
        fig, axes = figure(DOUBLE_COLUMN_IN * 0.8, 1.4 * nrows + 0.3, nrows=nrows, ncols=ncols,
                           squeeze=False, sharex=True)
        t = features["segment_start"].values
        for ax, (name, band, label) in zip(axes.ravel(), panels):
            sel = (lambda v: v) if band is None else (lambda v: v.sel(band=band))  # noqa: E731
            values = sel(features[f"window_{name}"]).values
            target, noise = float(sel(features[name])), float(sel(features[f"spread_{name}"]))
            ax.axhspan(target - noise, target + noise, color="0.88", lw=0,
                       label="target ± spread")
            ax.plot(t, values, ".", color="0.45", ms=2.5, label="per segment")
            ax.axhline(target, color=RECORDING_COLOR, lw=0.8, label="target (mean PSD)")
            for fit in fits:
                if f"model_{name}" in fit:
                    ax.axhline(float(sel(fit[f"model_{name}"])), ls="--",
                               color=color(fit.attrs["backend"]),
                               label=f"{fit.attrs['backend']} fit")
            ax.set_title(label, loc="left")
        for ax in axes.ravel()[len(panels):]:
            ax.set_axis_off()
        for ax in axes[-1]:
            ax.set_xlabel("segment start (s)")
        axes[0, 0].legend(loc="best", fontsize=5)
    return fig


def recording_convergence(fits) -> plt.Figure:
    """Best loss so far vs evaluations, one line per backend; 1 = one spread from the target."""
    with plt.rc_context(STYLE):
        fig, ax = figure()
        for fit in fits:
            backend = fit.attrs["backend"]
            n_eval = (fit["step"].values + 1) * fit.sizes["candidate"]
            loss = np.clip(fit["best_loss_so_far"].values, 1e-6, None)
            ax.plot(n_eval, loss, color=color(backend), marker=marker(backend),
                    ms=2, label=f"{backend} ({fit.attrs['status']})")
        ax.axhline(1.0, color="0.5", lw=0.6, ls=":", label="one window-to-window spread")
        ax.set_yscale("log")
        ax.set_xlabel("loss evaluations")
        ax.set_ylabel("best loss so far (mean sq. error / spread²)")
        ax.legend(loc="upper right")
    return fig


def recording_kind_figures(kind, fits, targets, scan, summary) -> dict:
    """The recording kind's own figures (``FigureKind.draws`` of
    :class:`eegfit.experiments.recording.Recording`): per file, its PSD and its windows against
    the fits. ``kind``: the experiment's Kind (its ``spec.features`` and ``band_hz``)."""
    del scan, summary
    out = {}
    for ds in targets:
        mine = [f for f in fits if f.attrs["target"] == ds.attrs["target"]]
        name = ds.attrs["target"]
        out[f"psd_{name}"] = recording_psd(ds, mine, kind.spec.features, kind.band_hz)
        out[f"windows_{name}"] = recording_windows(ds, mine)
    return out
