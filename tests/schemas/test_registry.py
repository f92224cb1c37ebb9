"""The outlet registry: validated into frozen records; errors name file, line, outlet and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.errors import ConfigError
from schemas.registry import parse_registry_text

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_registry_is_valid() -> None:
    path = REPO / "config" / "outlets.yaml"
    outlets = parse_registry_text(path.read_text(encoding="utf-8"), source=str(path))
    assert len({o.id for o in outlets}) == len(outlets) >= 10
    assert all(o.feeds or o.sitemaps or o.sections for o in outlets)
    assert not any(o.allow_private for o in outlets)


def test_relative_source_urls_resolve_against_the_homepage() -> None:
    [outlet] = parse_registry_text(
        "outlets:\n  - id: ria-ru\n    homepage: https://ria.ru/\n"
        "    feeds: [/export/rss2/archive/index.xml]\n    sitemaps: [https://ria.ru/s.xml]\n",
        source="outlets.yaml",
    )
    assert outlet.feeds == ("https://ria.ru/export/rss2/archive/index.xml",)
    assert outlet.sitemaps == ("https://ria.ru/s.xml",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "outlets:\n  - id: ria-ru\n    homepage: https://ria.ru/\n    feeds: [/rss]\n"
            "  - id: tass\n    homepage: https://tass.ru/\n    feeds: [/rss]\n"
            "    requests_per_second: fast\n",
            "outlets.yaml:8: outlet 'tass' (#2): field 'requests_per_second'",
        ),
        (
            "outlets:\n  - id: ria-ru\n    homepage: ftp://ria.ru/\n    feeds: [/rss]\n",
            "outlets.yaml:3: outlet 'ria-ru' (#1): field 'homepage'",
        ),
        (
            "outlets:\n  - id: ria-ru\n    homepage: https://ria.ru/\n    feeds: [/rss]\n"
            "    article_url_pattern: '(unclosed'\n",
            "outlets.yaml:5: outlet 'ria-ru' (#1): field 'article_url_pattern'",
        ),
        (
            "outlets:\n  - id: ria-ru\n    homepage: https://ria.ru/\n    feeds: [/rss]\n"
            "  - id: ria-ru\n    homepage: https://ria.ru/\n    feeds: [/rss2]\n",
            "outlets.yaml:5: outlet 'ria-ru' (#2): field 'id': duplicate",
        ),
        (
            "outlets:\n  - id: ria-ru\n    homepage: https://ria.ru/\n    feds: [/rss]\n",
            "outlets.yaml:4: outlet 'ria-ru' (#1): field 'feds': unknown field",
        ),
        (
            "outlets:\n  - id: ria-ru\n    homepage: https://ria.ru/\n",
            "outlet 'ria-ru' (#1): field '(entry)': needs at least one of feeds",
        ),
        ("outlets: [\n", "outlets.yaml:2: not valid YAML"),
        # issue 16: the pattern that hung discovery forever on 34 letters and "!"
        (
            "outlets:\n  - id: ria-ru\n    homepage: https://ria.ru/\n    feeds: [/rss]\n"
            "    article_url_pattern: '^https?://[^/]+/(\\w+-?)+\\.html$'\n",
            "outlets.yaml:5: outlet 'ria-ru' (#1): field 'article_url_pattern': nested quantifier",
        ),
        # issue 16: longer than the store's outlets.country column (a DataError on PostgreSQL)
        (
            "outlets:\n  - id: ria-ru\n    homepage: https://ria.ru/\n    feeds: [/rss]\n"
            "    country: Russian Federation\n",
            "outlets.yaml:5: outlet 'ria-ru' (#1): field 'country': must be at most 8 characters",
        ),
    ],
)
def test_a_malformed_registry_names_file_line_outlet_and_field(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_registry_text(text, source="outlets.yaml")
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    "pattern",
    [r"/\d{8}/", r"/news/[\w-]+\.html$", r"(\d{2}/){2}", r"(?>[a-z]+/)*\d+", r"\p{L}+/\d+"],
)
def test_patterns_without_nested_repeats_load(pattern: str) -> None:
    text = (
        "outlets:\n  - id: ria-ru\n    homepage: https://ria.ru/\n    sections: [/]\n"
        f"    article_url_pattern: '{pattern}'\n"
    )
    [outlet] = parse_registry_text(text, source="outlets.yaml")
    assert outlet.article_url_pattern == pattern


def test_revisit_after_is_parsed_and_a_bad_duration_names_the_field() -> None:
    text = (
        "outlets:\n  - id: a\n    homepage: https://a.example/\n    feeds: [/f]\n"
        "    revisit_after: '6h, 0s,1d'\n"
        "  - id: b\n    homepage: https://b.example/\n    feeds: [/f]\n"
    )
    a, b = parse_registry_text(text, source="outlets.yaml")
    assert a.revisit_after == (0.0, 21_600.0, 86_400.0)
    assert b.revisit_after is None
    bad = text.replace("'6h, 0s,1d'", "'soon'")
    with pytest.raises(ConfigError, match=r"outlets.yaml:5: outlet 'a' .*revisit_after"):
        parse_registry_text(bad, source="outlets.yaml")
