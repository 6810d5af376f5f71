"""Electrode names: the 10-20 aliases and finding a recording's channels among a lead field's rows.

The 10-20 system renamed four temporal sites in its 10-10 extension: T3, T4, T5 and T6 are T7, T8,
P7 and P8 (:data:`ALIASES_10_20`). A source that gives both (tvb-data writes ``T8/T4``) has its
first name kept as the electrode's and the others as aliases (:func:`split_names`). A channel is
found by its own name, one of the aliases, or either after the EDF decorations are taken off
(``EEG O1-REF``, ``O1..``, ``Fc5.``, any case: :func:`eegfit.data.recordings.channels.canonical`).
:func:`to_mne` makes an MNE montage of the electrodes' own positions (for topographic maps).
"""

from __future__ import annotations

import numpy as np

from eegfit.data.recordings.channels import canonical

ALIASES_10_20 = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
"""Old 10-20 name -> its 10-10 name (the same site)."""


def split_names(raw) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """``(names, aliases)`` of raw electrode names: ``"T8/T4"`` -> ``"T8"`` with alias ``("T4",)``;
    every electrode also gets its 10-20 counterpart from :data:`ALIASES_10_20` (either way)."""
    back = {new: old for old, new in ALIASES_10_20.items()}
    names, aliases = [], []
    for entry in raw:
        first, *others = [part.strip() for part in str(entry).split("/") if part.strip()]
        for known in (ALIASES_10_20.get(first.upper()), back.get(first.upper())):
            if known and known not in [o.upper() for o in others]:
                others.append(known)
        names.append(first)
        aliases.append(tuple(others))
    return tuple(names), tuple(aliases)


def match(wanted, names, aliases, *, key: str = "channels") -> list[int]:
    """The row of each channel in ``wanted`` among electrodes ``names`` (with ``aliases``): its
    :func:`~eegfit.data.recordings.channels.canonical` form equal to an electrode's name or alias.

    Raises:
        ValueError: naming ``key``, the channels that match no electrode (or several) and the
            electrodes there are, before any work.
    """
    forms = [{canonical(n)} | {canonical(a) for a in al} for n, al in zip(names, aliases)]
    rows, missing, several = [], [], []
    for channel in wanted:
        found = [i for i, f in enumerate(forms) if canonical(channel) in f]
        if len(found) == 1:
            rows.append(found[0])
        else:
            (several if found else missing).append(channel)
    if missing or several:
        what = ([f"{missing} match no electrode"] if missing else []) + (
            [f"{several} match several"] if several else [])
        raise ValueError(f"{key}: {' and '.join(what)} of the lead field (names, 10-20 aliases "
                         f"{ALIASES_10_20} and EDF spellings tried); its electrodes: {list(names)}")
    dup = sorted({names[i] for i in rows if rows.count(i) > 1})
    if dup:
        raise ValueError(f"{key}: several channels name the same electrodes {dup}")
    return rows


def to_mne(names, positions_mm):
    """An MNE montage (``mne.channels.DigMontage``, head frame, m) of electrodes whose positions
    are in mm in Brainstorm's frame (x to the nasion, y to the left ear, z up; tvb-data's):
    MNE's head frame has x to the right ear and y to the nasion, so ``(x, y, z)`` becomes
    ``(-y, x, z) / 1000``. Built from the file's own positions, so names not in MNE's templates
    (CB1, CB2) keep theirs."""
    import mne  # noqa: PLC0415 (the recording extra)

    from eegfit.observe.leadfield import brainstorm_to_head  # noqa: PLC0415

    pos = np.asarray(positions_mm, dtype=float)
    if pos.shape != (len(names), 3) or not np.isfinite(pos).all():
        raise ValueError(f"positions_mm must be finite, shape ({len(names)}, 3); got {pos.shape}")
    head_m = brainstorm_to_head(pos) / 1000.0
    return mne.channels.make_dig_montage(ch_pos=dict(zip(names, head_m)), coord_frame="head")


__all__ = ["ALIASES_10_20", "match", "split_names", "to_mne"]
