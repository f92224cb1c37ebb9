"""What a run does, as a value: the stage list, windows, plans, and the one `--from/--to` parser.

A live ingest, a backfill over a range and an Airflow catch-up differ only in their `Plan`:

    live      stages discover, fetch, cluster, index; links the sources list now (no window)
    backfill  any stages over a window: links dated in it, articles published in it
    catch-up  discover and fetch over an old Airflow data interval (live feeds no longer list it)

`mediamon.runner.run_plan` executes every plan. This module imports nothing but the standard
library and `schemas.errors`, so the DAG files and the command line's `--help` read `STAGES` here
without loading the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from schemas.errors import ConfigError

__all__ = [
    "LIVE_STAGES",
    "STAGES",
    "Plan",
    "Window",
    "parse_moment",
    "parse_stages",
    "parse_window_end",
]

# Execution order: tags and clusters only depend on text, so both follow extraction; indexing
# goes last so that one pass sends the final state.
STAGES: tuple[str, ...] = ("discover", "fetch", "extract", "tag", "cluster", "index")
# A live run reads what the sources list now; re-extraction and re-tagging need a window.
LIVE_STAGES: tuple[str, ...] = ("discover", "fetch", "cluster", "index")

RunKind = Literal["ingest", "backfill"]


@dataclass(frozen=True, slots=True)
class Window:
    """The half-open time range [start, end), both ends timezone-aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ConfigError("a run window needs timezone-aware datetimes")
        if self.end <= self.start:
            raise ConfigError(
                f"backfill range is empty: {self.start.isoformat()} >= {self.end.isoformat()}"
            )


@dataclass(frozen=True, slots=True)
class Plan:
    """One run: its kind, the stages, the outlets (every enabled one when empty) and windows.

    `window` selects links dated in it and articles published in it; without one, the stages
    work on what the sources list now and on every pending link. `interval` is the run's own
    time range (Airflow's data interval, a backfill's range): it keys the run row that
    checkpoints progress; a plan without one (a command-line `run`) keeps no checkpoint.
    """

    kind: RunKind
    stages: tuple[str, ...]
    outlet_ids: tuple[str, ...] = ()
    window: Window | None = None
    interval: Window | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.stages) - set(STAGES))
        if unknown or not self.stages:
            raise ConfigError(
                f"unknown backfill stage(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(STAGES)}"
            )
        if self.window is None:
            needs_window = sorted(set(self.stages) - set(LIVE_STAGES))
            if needs_window:
                raise ConfigError(f"stage(s) {', '.join(needs_window)} need a window")

    @classmethod
    def live(cls, outlet_ids: Sequence[str] = (), *, interval: Window | None = None) -> Plan:
        """Every live stage over what the sources list now (an hourly run, `mediamon run`)."""
        return cls("ingest", LIVE_STAGES, tuple(outlet_ids), None, interval)

    @classmethod
    def live_outlet(cls, outlet_id: str, interval: Window) -> Plan:
        """Discover and fetch one outlet live, checkpointed under its Airflow data interval."""
        return cls("ingest", ("discover", "fetch"), (outlet_id,), None, interval)

    @classmethod
    def catch_up(cls, outlet_id: str, interval: Window) -> Plan:
        """Discover and fetch one outlet's links dated in an old data interval."""
        return cls("ingest", ("discover", "fetch"), (outlet_id,), interval, interval)

    @classmethod
    def backfill(
        cls,
        start: datetime,
        end: datetime,
        outlet_ids: Sequence[str] = (),
        stages: Sequence[str] = STAGES,
    ) -> Plan:
        """Rebuild [start, end): the outlets sorted (their order does not change the run)."""
        window = Window(start, end)
        return cls("backfill", tuple(stages), tuple(sorted(outlet_ids)), window, window)

    @property
    def start(self) -> datetime:
        """Start of the window (backfills and catch-ups only)."""
        return self._window.start

    @property
    def end(self) -> datetime:
        """End of the window (backfills and catch-ups only)."""
        return self._window.end

    @property
    def _window(self) -> Window:
        if self.window is None:
            raise ConfigError("a live plan has no window")
        return self.window

    @property
    def mode(self) -> str:
        """`live`, `catch-up` or `backfill`: how the run row names what it did."""
        if self.kind == "backfill":
            return "backfill"
        return "live" if self.window is None else "catch-up"

    @property
    def ordered_stages(self) -> tuple[str, ...]:
        """The requested stages in execution order."""
        return tuple(stage for stage in STAGES if stage in self.stages)

    @property
    def run_id(self) -> str | None:
        """Deterministic id of the run row (same plan, same id), None without an interval."""
        from transforms import ids  # hashing only; kept out of the DAG processor's imports

        if self.interval is None:
            return None
        start, end = self.interval.start.isoformat(), self.interval.end.isoformat()
        if self.kind == "backfill":
            scope = ",".join(sorted(self.outlet_ids)) + "|" + ",".join(self.ordered_stages)
            return ids.run_id("backfill", start, end, scope)
        return ids.run_id("ingest", start, end, ",".join(self.outlet_ids))


def parse_moment(value: str | date | datetime) -> datetime:
    """A UTC datetime for a day (`2018-09-08`) or an ISO timestamp (naive means UTC).

    The one parser of every `--from/--to` and of the backfill DAG's params. Raises `ConfigError`
    ("not a date") for anything else.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min)
    else:
        text = value.strip()
        try:
            moment = (
                datetime.combine(date.fromisoformat(text), time.min)
                if len(text) == 10
                else datetime.fromisoformat(text.replace("Z", "+00:00"))
            )
        except ValueError as error:
            raise ConfigError(f"not a date: {value!r}") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_window_end(value: str) -> datetime:
    """The exclusive end of a window whose last day is `value`: a bare day is included whole."""
    end = parse_moment(value)
    if len(value.strip()) == 10:
        end += timedelta(days=1)
    return end


def parse_stages(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Return stages from `discover,fetch` or a list; None or empty means every stage."""
    if value is None:
        return STAGES
    items = value.split(",") if isinstance(value, str) else list(value)
    stages = tuple(item.strip() for item in items if item.strip())
    return stages or STAGES
