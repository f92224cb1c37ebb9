"""Settings of one pipeline process, read once at the edge (command line, DAG task) and passed down.

Every value comes from an explicit argument or a `MEDIAMON_*` environment variable, never from a
module constant. Secrets (database password, search credentials) are kept out of `repr`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.engine import make_url

from schemas.durations import parse_schedule
from schemas.errors import ConfigError
from schemas.records import Outlet

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_REVISIT = "1h,6h,24h,72h"
DEFAULT_REVISIT_AFTER = parse_schedule(DEFAULT_REVISIT)
DEFAULT_USER_AGENT = "mediamon/0.1 (+https://github.com/mediamon/mediamon; research crawler)"


@dataclass(frozen=True, slots=True)
class Settings:
    """Where data lives and how the pipeline reaches its services."""

    data_dir: Path
    database_url: str = field(repr=False)
    search_url: str | None
    search_prefix: str = "mediamon"
    search_username: str | None = None
    search_password: str | None = field(default=None, repr=False)
    search_api_key: str | None = field(default=None, repr=False)
    registry_path: Path = PROJECT_ROOT / "config" / "outlets.yaml"
    taxonomy_path: Path = PROJECT_ROOT / "config" / "topics.yaml"
    user_agent: str = DEFAULT_USER_AGENT
    allow_private: bool = False
    fetch_workers: int = 8
    requests_per_second: float = 1.0
    samples_base_port: int = 18100
    # Per outlet and run: links kept from discovery, links fetched, and seconds of fetching;
    # what is left stays pending for the next run (1,000 links that never answer would
    # otherwise hold one run for hours).
    max_links_per_outlet: int = 50_000
    max_fetches_per_outlet: int = 1_000
    outlet_time_budget: float = 1_800.0
    # Ages (seconds after an article was first seen) at which it is fetched again to catch edits;
    # an outlet's registry `revisit_after` overrides it.
    revisit_after: tuple[float, ...] = DEFAULT_REVISIT_AFTER

    def revisit_schedule(self, outlet: Outlet) -> tuple[float, ...]:
        """The revisit ages of `outlet`: its registry override, else the setting."""
        return self.revisit_after if outlet.revisit_after is None else outlet.revisit_after

    @property
    def archive_dir(self) -> Path:
        """Folder of the raw WARC archive."""
        return self.data_dir / "archive"

    @property
    def database_display(self) -> str:
        """The database URL with the password masked (for output and logs)."""
        return make_url(self.database_url).render_as_string(hide_password=True)

    def with_overrides(self, **changes: object) -> Settings:
        """Return a copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def load_settings(
    environ: Mapping[str, str] | None = None, *, data_dir: Path | None = None
) -> Settings:
    """Build settings from `MEDIAMON_*` variables (see README) with embedded defaults.

    Defaults: SQLite under `data/`, no search cluster (the demo starts a local one), the
    registry and taxonomy from `config/`.
    """
    env = os.environ if environ is None else environ
    base = Path(env.get("MEDIAMON_DATA_DIR", "")) if env.get("MEDIAMON_DATA_DIR") else None
    root = data_dir or base or DEFAULT_DATA_DIR
    root = root.resolve()
    return Settings(
        data_dir=root,
        database_url=env.get("MEDIAMON_DATABASE_URL") or f"sqlite:///{root / 'mediamon.sqlite3'}",
        search_url=env.get("MEDIAMON_ES_URL") or None,
        search_prefix=env.get("MEDIAMON_ES_PREFIX", "mediamon"),
        search_username=env.get("MEDIAMON_ES_USERNAME") or None,
        search_password=env.get("MEDIAMON_ES_PASSWORD") or None,
        search_api_key=env.get("MEDIAMON_ES_API_KEY") or None,
        registry_path=Path(env.get("MEDIAMON_REGISTRY", PROJECT_ROOT / "config" / "outlets.yaml")),
        taxonomy_path=Path(env.get("MEDIAMON_TAXONOMY", PROJECT_ROOT / "config" / "topics.yaml")),
        user_agent=env.get("MEDIAMON_USER_AGENT", DEFAULT_USER_AGENT),
        allow_private=env.get("MEDIAMON_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes"),
        fetch_workers=int(env.get("MEDIAMON_FETCH_WORKERS", "8")),
        requests_per_second=float(env.get("MEDIAMON_REQUESTS_PER_SECOND", "1.0")),
        samples_base_port=int(env.get("MEDIAMON_SAMPLES_BASE_PORT", "18100")),
        max_links_per_outlet=int(env.get("MEDIAMON_MAX_LINKS_PER_OUTLET", "50000")),
        max_fetches_per_outlet=int(env.get("MEDIAMON_MAX_FETCHES_PER_OUTLET", "1000")),
        outlet_time_budget=float(env.get("MEDIAMON_OUTLET_TIME_BUDGET", "1800")),
        revisit_after=_revisit_after(env.get("MEDIAMON_REVISIT_AFTER", DEFAULT_REVISIT)),
    )


def _revisit_after(text: str) -> tuple[float, ...]:
    try:
        return parse_schedule(text)
    except ValueError as error:
        raise ConfigError(f"MEDIAMON_REVISIT_AFTER: {error}") from error
