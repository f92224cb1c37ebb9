"""Canonical URLs (fetchable) and dedup keys (lossy, equality only): one test per rule."""

from __future__ import annotations

import re

import pytest

from tests.fixtures import SHARED_DATA
from transforms.urls import canonicalize_url, choose_canonical, dedup_key, registered_domain

DATA = SHARED_DATA


# ------------------------------------------------------------------ canonicalize_url


def test_canonical_strips_surrounding_whitespace() -> None:
    assert canonicalize_url("  https://x.com/a\n") == "https://x.com/a"


def test_canonical_lowercases_scheme_and_host_and_drops_root_dot() -> None:
    assert canonicalize_url("HTTPS://WWW.Example.COM./News/A") == "https://www.example.com/News/A"


def test_canonical_drops_default_ports_only() -> None:
    assert canonicalize_url("http://x.com:80/a") == "http://x.com/a"
    assert canonicalize_url("https://x.com:443/a") == "https://x.com/a"
    assert canonicalize_url("https://x.com:8443/a") == "https://x.com:8443/a"


def test_canonical_drops_fragment() -> None:
    assert canonicalize_url("https://x.com/a#comments") == "https://x.com/a"


def test_canonical_removes_utm_and_click_id_parameters() -> None:
    url = "https://x.com/a?id=7&utm_source=rss&utm_medium=feed&fbclid=IwAR0&gclid=Cj0&ref=rss"
    assert canonicalize_url(url) == "https://x.com/a?id=7"


def test_canonical_keeps_parameters_that_name_the_document() -> None:
    url = "http://www.upmedia.mg/news_info.php?SerialNo=83141"
    assert canonicalize_url(url) == url


def test_canonical_removes_session_ids_from_query_and_path() -> None:
    assert (
        canonicalize_url("https://x.com/a;jsessionid=0A1B2C?PHPSESSID=abc&p=2")
        == "https://x.com/a?p=2"
    )


def test_canonical_folds_amp_path_suffix() -> None:
    assert canonicalize_url("https://x.com/news/story/amp/") == "https://x.com/news/story/"
    assert canonicalize_url("https://x.com/news/story.amp.html") == "https://x.com/news/story.html"


def test_canonical_folds_amp_query_switch() -> None:
    assert canonicalize_url("https://x.com/news/story?amp=1") == "https://x.com/news/story"
    assert canonicalize_url("https://x.com/s?outputType=amp&id=3") == "https://x.com/s?id=3"


def test_canonical_unwraps_google_amp_cache() -> None:
    url = "https://www-x-com.cdn.ampproject.org/c/s/www.x.com/news/story.amp.html"
    assert canonicalize_url(url) == "https://www.x.com/news/story.html"


def test_canonical_unwraps_wayback_machine_copies() -> None:
    url = "https://web.archive.org/web/20220721135650/https://www.mk.co.kr/news/society/view/2020/07/693939/"
    assert canonicalize_url(url) == "https://www.mk.co.kr/news/society/view/2020/07/693939/"


def test_canonical_folds_mobile_host_to_www() -> None:
    assert (
        canonicalize_url("https://m.bbc.co.uk/news/world-1") == "https://www.bbc.co.uk/news/world-1"
    )
    # A two-label host ("m.com") is a domain, not a mobile prefix.
    assert canonicalize_url("https://m.com/a") == "https://m.com/a"


def test_canonical_writes_percent_escapes_one_way() -> None:
    assert canonicalize_url("https://x.com/a%2db%7e") == canonicalize_url("https://x.com/a-b~")


def test_canonical_gives_empty_path_a_slash() -> None:
    assert canonicalize_url("https://x.com") == "https://x.com/"


def test_canonical_leaves_non_http_urls_alone() -> None:
    assert canonicalize_url("mailto:news@x.com") == "mailto:news@x.com"


def test_canonical_is_idempotent() -> None:
    for url in (
        "https://m.x.com/a/amp/?utm_source=t&b=1#c",
        "http://X.com:80/%7Ea;jsessionid=1",
        "https://www.derstandard.at/story/3000000218734/nach-kalifat?ref=rss",
    ):
        once = canonicalize_url(url)
        assert canonicalize_url(once) == once


# ------------------------------------------------------------------ dedup_key


def test_dedup_key_ignores_scheme() -> None:
    assert dedup_key("http://x.com/a") == dedup_key("https://x.com/a")


def test_dedup_key_ignores_www_and_mobile_prefixes() -> None:
    assert (
        dedup_key("https://www.x.com/a")
        == dedup_key("https://m.x.com/a")
        == dedup_key("https://x.com/a")
    )


def test_dedup_key_ignores_trailing_slash_and_index_files() -> None:
    assert (
        dedup_key("https://x.com/a/")
        == dedup_key("https://x.com/a/index.html")
        == dedup_key("https://x.com/a")
    )


def test_dedup_key_ignores_query_order() -> None:
    assert dedup_key("https://x.com/a?b=2&a=1") == dedup_key("https://x.com/a?a=1&b=2")


def test_dedup_key_ignores_utm_parameters() -> None:
    plain = "https://www.uniradioinforma.com/coronavirus/nuevos-sintomas-covid-prolongado-n623597"
    tracked = plain + "?utm_source=facebook&utm_medium=social&utm_campaign=uniradio"
    assert dedup_key(tracked) == dedup_key(plain)


def test_dedup_key_keeps_different_articles_apart() -> None:
    assert dedup_key("https://x.com/a?id=1") != dedup_key("https://x.com/a?id=2")
    assert dedup_key("https://x.com/a") != dedup_key("https://y.com/a")


# ------------------------------------------------------------------ choose_canonical


def _declared_canonical(name: str) -> str:
    path = DATA / "pages" / name
    assert path.is_file(), f"shared data missing: {path}"
    match = re.search(r'<link rel="canonical" href="([^"]+)"', path.read_text(encoding="utf-8"))
    assert match is not None
    return match.group(1)


def test_choose_canonical_trusts_same_site_declaration_on_a_tracked_url() -> None:
    declared = _declared_canonical("es/uniradioinforma-com__mcmeta-covid-sintomas-utm.html")
    page = declared + "?utm_source=twitter&utm_medium=social"
    assert choose_canonical(page, declared) == declared


def test_choose_canonical_follows_wayback_declarations_to_the_original() -> None:
    declared = _declared_canonical("ko/mk-co-kr__mcmeta-society-covid-wayback.html")
    page = "https://web.archive.org/web/20220721135650/https://www.mk.co.kr/news/society/view/2020/07/693939/"
    assert (
        choose_canonical(page, declared) == "https://www.mk.co.kr/news/society/view/2020/07/693939/"
    )


def test_choose_canonical_resolves_relative_declarations() -> None:
    assert choose_canonical(
        "https://x.com/news/a-long-story?utm_source=x", "/news/a-long-story"
    ) == ("https://x.com/news/a-long-story")


def test_choose_canonical_rejects_another_domain() -> None:
    page = "https://www.chron.com/news/article/wire-story-1234567.php"
    assert choose_canonical(page, "https://apnews.com/article/abcdef") == canonicalize_url(page)


def test_choose_canonical_rejects_the_home_page() -> None:
    page = "https://x.com/2020/01/13/a-long-story-about-something"
    assert choose_canonical(page, "https://x.com/") == page


def test_choose_canonical_rejects_a_different_article_of_the_same_site() -> None:
    page = "https://x.com/news/12345678/floods-hit-the-northern-provinces"
    declared = "https://x.com/news/87654321/election-results-announced-today"
    assert choose_canonical(page, declared) == page


def test_choose_canonical_accepts_the_amp_to_plain_mapping() -> None:
    page = "https://amp.x.com/news/12345678/floods-hit-the-north/amp/"
    assert choose_canonical(page, "https://www.x.com/news/12345678/floods-hit-the-north/") == (
        "https://www.x.com/news/12345678/floods-hit-the-north/"
    )


def test_choose_canonical_without_declaration_normalises_the_page_url() -> None:
    assert choose_canonical("https://X.com/a?utm_source=y", None) == "https://x.com/a"


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://news.bbc.co.uk/a", "bbc.co.uk"),
        ("https://www.lemonde.fr/a", "lemonde.fr"),
        ("http://127.0.0.1:8000/a", "127.0.0.1"),
        ("http://localhost/a", "localhost"),
    ],
)
def test_registered_domain(url: str, domain: str) -> None:
    assert registered_domain(url) == domain


def test_choose_canonical_follows_feed_proxy_urls_to_the_article() -> None:
    page = "http://feedproxy.google.com/~r/NoticiaAlDia/~3/_k8dJ5xnwYw/"
    declared = "https://www.usatoday.com/story/news/2020/04/02/hurricane-season/5108401002/"
    assert choose_canonical(page, declared) == declared
    usatoday = "http://rssfeeds.usatoday.com/~/620721596/0/usatoday-newstopstories~Hurricanes/"
    assert choose_canonical(usatoday, declared) == declared
    # ... but a feed proxy declaring a home page still tells us nothing.
    assert choose_canonical(page, "https://noticialdia.com/") == canonicalize_url(page)


def test_choose_canonical_keeps_a_syndicated_copy_at_its_own_url() -> None:
    page = (
        "https://www.wiwo.de/unternehmen/industrie/linde-gasekonzern-muss-verkaufen/25183842.html"
    )
    declared = "https://www.handelsblatt.com/unternehmen/industrie/linde-gasekonzern-muss-verkaufen/25183842.html"
    assert choose_canonical(page, declared) == page
