"""Durations as analysts write them (`90s`, `15m`, `6h`, `3d`), parsed into seconds.

Used by the revisit schedule: the setting `MEDIAMON_REVISIT_AFTER` and the registry's per-outlet
`revisit_after` share this one parser, so both reject the same inputs with the same message.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3_600.0, "d": 86_400.0}


def parse_duration(text: str) -> float:
    """Seconds in one duration such as `0s`, `90m`, `6h` or `3d`; ValueError otherwise."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (write e.g. 0s, 30m, 6h, 3d)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_schedule(text: str) -> tuple[float, ...]:
    """Ages in seconds from a comma-separated list (`1h,6h,24h`), sorted, duplicates dropped.

    An empty text is an empty schedule (revisits switched off). Raises ValueError naming the
    first item that is not a duration.
    """
    items = [item for item in text.split(",") if item.strip()]
    return tuple(sorted({parse_duration(item) for item in items}))
