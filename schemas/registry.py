"""The outlet registry file (`config/outlets.yaml`): validated into frozen `Outlet` records.

Format::

    outlets:
      - id: sputnik-fr                 # lower-case slug, unique
        name: Sputnik France
        homepage: https://fr.sputniknews.com/
        languages: [fr]
        country: RU                    # optional
        feeds: [https://fr.sputniknews.com/export/rss2/archive/index.xml]
        sitemaps: []                   # news sitemaps or sitemap indexes
        sections: []                   # section/home pages to scan for links
        article_url_pattern: '/\\d{8}/'   # regex; filters links found on section pages
        requests_per_second: 1.0       # optional politeness override
        allow_private: false           # only for local samples and tests
        enabled: true
        revisit_after: 1h,6h,24h       # optional: ages at which articles are fetched again
                                       # (overrides MEDIAMON_REVISIT_AFTER; '' switches off)

Feed, sitemap and section URLs may be relative to `homepage`. Every error names the file, the line,
the outlet entry and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

from schemas import tables
from schemas.bounds import column_bound
from schemas.durations import parse_schedule
from schemas.errors import ConfigError
from schemas.records import Outlet
from schemas.url_patterns import UnsafePatternError, check_url_pattern
from schemas.yamldoc import Locations, parse_yaml_with_lines

_OUTLET_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_COUNTRY_MAX = column_bound(tables.outlets, "country") or 8
_FIELDS = {
    "id",
    "name",
    "homepage",
    "languages",
    "country",
    "feeds",
    "sitemaps",
    "sections",
    "article_url_pattern",
    "requests_per_second",
    "allow_private",
    "enabled",
    "revisit_after",
}


class _Where:
    def __init__(self, source: str, lines: Locations) -> None:
        self.source = source
        self.lines = lines

    def error(self, path: tuple[str | int, ...], entry: str, message: str) -> ConfigError:
        line = None
        for depth in range(len(path), -1, -1):
            line = self.lines.get(path[:depth])
            if line is not None:
                break
        place = f"{self.source}:{line}" if line else self.source
        field = ".".join(str(p) for p in path[2:]) or "(entry)"
        return ConfigError(f"{place}: outlet {entry}: field {field!r}: {message}")


def _http_url(value: object, base: str | None) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    url = urljoin(base, value.strip()) if base else value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


def load_registry_document(
    data: object, *, source: str, lines: Locations | None = None
) -> tuple[Outlet, ...]:
    """Validate a parsed registry document into outlets (disabled ones included).

    Raises `ConfigError` naming file, line, outlet entry and field.
    """
    where = _Where(source, lines or {})
    if not isinstance(data, Mapping) or not isinstance(data.get("outlets"), list):
        raise where.error((), "-", "the file must be a mapping with a list under 'outlets'")
    outlets: list[Outlet] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["outlets"]):
        path: tuple[str | int, ...] = ("outlets", index)
        label = f"#{index + 1}"
        if not isinstance(entry, Mapping):
            raise where.error(path, label, "each outlet must be a mapping")
        outlet_id = entry.get("id")
        if isinstance(outlet_id, str):
            label = f"{outlet_id!r} (#{index + 1})"
        unknown = sorted(set(map(str, entry)) - _FIELDS)
        if unknown:
            raise where.error(
                (*path, unknown[0]), label, f"unknown field (known: {sorted(_FIELDS)})"
            )
        if not isinstance(outlet_id, str) or not _OUTLET_ID.match(outlet_id):
            raise where.error(
                (*path, "id"),
                label,
                "must be a lower-case slug of letters, digits, '.', '_' or '-'",
            )
        if outlet_id in seen:
            raise where.error((*path, "id"), label, "duplicate outlet id")
        seen.add(outlet_id)
        name = entry.get("name", outlet_id)
        if not isinstance(name, str) or not name.strip():
            raise where.error((*path, "name"), label, "must be a non-empty string")
        homepage = _http_url(entry.get("homepage"), None)
        if homepage is None:
            raise where.error((*path, "homepage"), label, "must be an absolute http(s) URL")
        url_lists: dict[str, tuple[str, ...]] = {}
        for key in ("feeds", "sitemaps", "sections"):
            raw = entry.get(key, [])
            if not isinstance(raw, list):
                raise where.error((*path, key), label, "must be a list of URLs")
            urls = []
            for position, value in enumerate(raw):
                url = _http_url(value, homepage)
                if url is None:
                    raise where.error(
                        (*path, key, position), label, f"not an http(s) URL: {value!r}"
                    )
                urls.append(url)
            url_lists[key] = tuple(dict.fromkeys(urls))
        if not any(url_lists.values()):
            raise where.error(path, label, "needs at least one of feeds, sitemaps or sections")
        languages = entry.get("languages", [])
        if not isinstance(languages, list) or not all(
            isinstance(code, str) and _LANGUAGE.match(code) for code in languages
        ):
            raise where.error((*path, "languages"), label, "must be a list of ISO 639 codes")
        pattern = entry.get("article_url_pattern")
        if pattern is not None:
            if not isinstance(pattern, str):
                raise where.error((*path, "article_url_pattern"), label, "must be a string")
            try:
                check_url_pattern(pattern)
            except UnsafePatternError as exc:
                raise where.error((*path, "article_url_pattern"), label, str(exc)) from exc
        rate = entry.get("requests_per_second")
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0
        ):
            raise where.error((*path, "requests_per_second"), label, "must be a positive number")
        flags = {}
        for key, default in (("allow_private", False), ("enabled", True)):
            value = entry.get(key, default)
            if not isinstance(value, bool):
                raise where.error((*path, key), label, "must be true or false")
            flags[key] = value
        country = entry.get("country")
        if country is not None and not isinstance(country, str):
            raise where.error((*path, "country"), label, "must be a string")
        if country is not None and len(country) > _COUNTRY_MAX:
            raise where.error(
                (*path, "country"),
                label,
                f"must be at most {_COUNTRY_MAX} characters (an ISO 3166 code such as RU)",
            )
        revisit_after: tuple[float, ...] | None = None
        raw_revisit = entry.get("revisit_after")
        if raw_revisit is not None:
            if isinstance(raw_revisit, list):
                raw_revisit = ",".join(str(item) for item in raw_revisit)
            if not isinstance(raw_revisit, str):
                raise where.error(
                    (*path, "revisit_after"), label, "must be durations such as '1h,6h,24h'"
                )
            try:
                revisit_after = parse_schedule(raw_revisit)
            except ValueError as exc:
                raise where.error((*path, "revisit_after"), label, str(exc)) from exc
        outlets.append(
            Outlet(
                id=outlet_id,
                name=name.strip(),
                homepage=homepage,
                languages=tuple(languages),
                country=country,
                feeds=url_lists["feeds"],
                sitemaps=url_lists["sitemaps"],
                sections=url_lists["sections"],
                article_url_pattern=pattern,
                requests_per_second=float(rate) if rate is not None else None,
                allow_private=flags["allow_private"],
                enabled=flags["enabled"],
                revisit_after=revisit_after,
            )
        )
    return tuple(outlets)


def parse_registry_text(text: str, *, source: str) -> tuple[Outlet, ...]:
    """Parse registry YAML text; errors name the file, line, outlet and field."""
    data, lines = parse_yaml_with_lines(text, source=source)
    return load_registry_document(data, source=source, lines=lines)
