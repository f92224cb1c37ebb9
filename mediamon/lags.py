"""How a copy's lag behind its story's origin is written for people: one function, two styles."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal


def format_lag(lag: timedelta | float | None, *, style: Literal["clock", "short"] = "clock") -> str:
    """Return a lag (a timedelta or seconds) for display.

    `clock` (tables, the audit view): `+1d 02:03:04`, `+00:00:07`, `-00:05:00`, `?` when unknown.
    `short` (chart labels): `45 s`, `12 min`, `3.5 h`, `2.0 d`, `unknown` when unknown.
    """
    if lag is None:
        return "?" if style == "clock" else "unknown"
    seconds = lag.total_seconds() if isinstance(lag, timedelta) else float(lag)
    if style == "short":
        whole = int(seconds)
        if whole < 60:
            return f"{whole} s"
        if whole < 3600:
            return f"{whole // 60} min"
        if whole < 86400:
            return f"{whole / 3600:.1f} h"
        return f"{whole / 86400:.1f} d"
    sign = "-" if seconds < 0 else "+"
    days, rest = divmod(int(abs(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{sign}{days}d {clock}" if days else f"{sign}{clock}"
