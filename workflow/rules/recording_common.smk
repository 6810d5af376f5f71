# Checks of the optional `recording` config section that a schema cannot express; no file is
# opened and nothing of eegfit is imported here (the driver stays light).


def check_recording(cfg):
    """Cross-field checks of the section a schema cannot express (no file is opened here)."""
    if cfg.get("recording") is None:
        return
    rec = cfg["recording"]
    filt = rec.get("filter", {"low_hz": 1.0, "high_hz": 45.0})
    if filt and None not in (filt.get("low_hz"), filt.get("high_hz")) and not (
            filt["low_hz"] < filt["high_hz"]):
        raise ValueError(f"config recording.filter needs low_hz < high_hz, got {filt}")
    for window in rec.get("windows_s") or []:
        if not 0 <= window[0] < window[1]:
            raise ValueError(f"config recording.windows_s: window {window} needs 0 <= start < end")
    sim = rec["simulation"]
    if not sim["transient_ms"] < sim["duration_ms"]:
        raise ValueError(f"config recording.simulation.transient_ms ({sim['transient_ms']}) must "
                         f"be < recording.simulation.duration_ms ({sim['duration_ms']})")
    for name, par in rec["parameters"].items():
        low, high = par["bounds"]
        if not low < high or not low <= par["start"] <= high:
            raise ValueError(f"config recording.parameters.{name}: need bounds low < high and "
                             f"start inside them, got bounds {par['bounds']}, start "
                             f"{par['start']}")
    demo = rec.get("demo")
    if demo:
        unknown = sorted(set(demo["truth"]) - set(rec["parameters"]))
        if unknown:
            raise ValueError(f"config recording.demo.truth names {unknown}, which are not in "
                             f"recording.parameters")


check_recording(config)
