"""The one wiring point: every command, DAG task and test gets its connectors from `open_services`.

`Services` holds the store (migrated), the search index when one is configured, and lazily the
fetcher, the raw archive and the compiled taxonomy; closing it closes them all. Nothing else in
the package opens the store or builds a fetcher from settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from connectors.archive import RawArchive
from connectors.http import Fetcher, FetchSettings
from connectors.search import SearchIndex, SearchSettings
from connectors.store import Store
from mediamon.settings import Settings
from mediamon.taxonomy_file import load_compiled_taxonomy
from schemas.errors import ConfigError
from schemas.records import Outlet
from schemas.registry import parse_registry_text
from transforms.topics import CompiledTaxonomy

__all__ = ["Clock", "Services", "load_outlets", "open_services", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, in UTC (the one place the pipeline reads it)."""
    return datetime.now(UTC)


@dataclass
class Services:
    """The connectors one run uses, opened from settings and closed together."""

    settings: Settings
    store: Store
    search: SearchIndex | None
    clock: Clock = utc_now

    @cached_property
    def fetcher(self) -> Fetcher:
        """The polite, safe HTTP fetcher shared by every stage of the run."""
        return Fetcher(
            FetchSettings(
                user_agent=self.settings.user_agent,
                allow_private=self.settings.allow_private,
                default_requests_per_second=self.settings.requests_per_second,
            )
        )

    @cached_property
    def archive(self) -> RawArchive:
        """The raw WARC archive."""
        return RawArchive(self.settings.archive_dir)

    @cached_property
    def taxonomy(self) -> CompiledTaxonomy:
        """The compiled topic taxonomy."""
        return load_compiled_taxonomy(self.settings.taxonomy_path)

    def close(self) -> None:
        """Release connections."""
        if "fetcher" in self.__dict__:
            self.fetcher.close()
        if self.search is not None:
            self.search.close()
        self.store.dispose()


@contextmanager
def open_services(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    with_search: bool = True,
    migrate: bool = True,
) -> Iterator[Services]:
    """Open the store (migrated unless `migrate` is False) and, when configured, the search index.

    Commands that only read the store pass `with_search=False`; `migrate=False` opens a store
    as it is (reading an existing file without changing it).
    """
    store = Store.open(settings.database_url)
    try:
        if migrate:
            store.migrate()
    except BaseException:
        store.dispose()
        raise
    search = None
    if with_search and settings.search_url:
        search = SearchIndex(
            SearchSettings(
                url=settings.search_url,
                prefix=settings.search_prefix,
                username=settings.search_username,
                password=settings.search_password,
                api_key=settings.search_api_key,
            )
        )
    services = Services(settings, store, search, clock)
    try:
        yield services
    finally:
        services.close()


def load_outlets(settings: Settings, outlet_ids: Sequence[str] | None = None) -> list[Outlet]:
    """Read the registry and return the enabled outlets (optionally only the named ones)."""
    path = settings.registry_path
    outlets = parse_registry_text(path.read_text(encoding="utf-8"), source=str(path))
    chosen = [o for o in outlets if o.enabled]
    if outlet_ids:
        unknown = sorted(set(outlet_ids) - {o.id for o in outlets})
        if unknown:
            raise ConfigError(f"{path}: no outlet with id {', '.join(unknown)}")
        chosen = [o for o in chosen if o.id in set(outlet_ids)]
    return chosen
