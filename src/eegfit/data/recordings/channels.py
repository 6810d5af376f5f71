"""A recording's channel names: a 10-20 name found in the common EDF spellings (``EEG O1``,
``O1-A1``, ``O1-REF``, ``O1..``, any case). A channel is named as the config names it: the file's
own name (``O1..``), or a 10-20 name (``O1``) that :func:`resolve_channels` finds; none or several
matches is an error listing the file's names.
"""

from __future__ import annotations

import re

from eegfit.data.recordings.files import RecordingError

REFERENCE_SUFFIXES = ("REF", "A1", "A2", "A1A2", "M1", "M2", "M1M2", "LE", "RE", "AVG", "AV",
                      "AR", "CAR")
"""Reference labels an EDF appends to a channel's name (``O1-A1``, ``O1-REF``); a bipolar
derivation (``O1-O2``) is not one and is never taken for ``O1``."""

_EEG_PREFIX = re.compile(r"^EEG[\s_:-]*")
_REF_SUFFIX = re.compile(r"[\s_]*-[\s_]*(" + "|".join(REFERENCE_SUFFIXES) + r")$")


def canonical(name: str) -> str:
    """A channel name without its EDF decorations: upper case, no ``EEG`` prefix, no padding dots
    and no reference suffix (``"EEG O1-REF"``, ``"O1.."``, ``"o1-a1"`` -> ``"O1"``)."""
    out = _EEG_PREFIX.sub("", name.strip().upper()).rstrip(". ")
    return _REF_SUFFIX.sub("", out).rstrip(". ")


def resolve_channels(wanted, names, path, key: str = "channels") -> list[str]:
    """The file's name of each channel in ``wanted``: the name itself where the file has it,
    otherwise the one file channel with the same :func:`canonical` name. ``RecordingError``,
    naming ``key``, the value and the file's channels, where none or several match."""
    out = []
    for name in wanted:
        if name in names:
            out.append(name)
            continue
        found = [n for n in names if canonical(n) == canonical(name)]
        if len(found) != 1:
            what = ("matches no channel" if not found else
                    f"matches several channels ({found}; name one of them exactly)")
            raise RecordingError(
                f"{key}: {name!r} {what} of recording file {str(path)!r} (tried its own spelling "
                f"and the EDF ones: 'EEG {name}', '{name}-REF', '{name}-A1', '{name}..', any "
                f"case); the file's channels: {list(names)}")
        out.append(found[0])
    return out
