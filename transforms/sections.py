"""Find article links on an outlet's section or home page (pure: HTML bytes in, links out)."""

from __future__ import annotations

import time
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.html
import regex
from lxml import etree

from schemas.errors import PermanentError
from schemas.records import DiscoveredLink, SourceKind
from schemas.url_patterns import UnsafePatternError, compile_url_pattern

__all__ = ["extract_article_links", "resolve_http_url", "same_site"]

# Host prefixes that name the same site (a link from www.x.org to x.org or m.x.org stays home).
_SAME_SITE_PREFIXES = ("www.", "m.", "amp.", "mobile.")
_TITLE_MAX_CHARS = 300
# Seconds of pattern matching one section page may take in all (a real pattern needs
# microseconds per link; a backtracking one is stopped here).
DEFAULT_PATTERN_BUDGET = 1.0


def _matches(matcher: regex.Pattern[str], url: str, deadline: float, pattern: str) -> bool:
    """Whether the pattern is found in `url`, within what is left of the page's budget."""
    remaining = deadline - time.monotonic()
    try:
        if remaining <= 0:
            raise TimeoutError
        return matcher.search(url, timeout=remaining) is not None
    except TimeoutError as error:
        raise PermanentError(
            f"article URL pattern {pattern!r} took too long on {url[:200]!r}: "
            "it backtracks; rewrite it without nested or overlapping repeats",
            kind="pattern-timeout",
        ) from error


def extract_article_links(
    html: bytes,
    *,
    base_url: str,
    pattern: str | None,
    outlet_id: str,
    encoding: str | None = None,
    pattern_budget: float = DEFAULT_PATTERN_BUDGET,
) -> list[DiscoveredLink]:
    """Return the links of a section page that lead to articles of the same site, in page order.

    Relative links resolve against `<base href>` or `base_url`; fragments are dropped; each URL
    appears once (titled by its longest anchor text, else title/alt text). Links to other sites
    are skipped; when `pattern` (the outlet's article URL regex, searched anywhere in the URL) is
    given, only matching URLs are kept. `encoding` (a Python codec name, e.g. from the HTTP
    header) decodes the page; without it the parser reads the page's own declaration.
    Raises PermanentError(kind="bad-pattern") for an invalid or unsafe regex (see
    `schemas.url_patterns`), and kind "pattern-timeout" when matching the page's links takes
    longer than `pattern_budget` seconds in all; an empty or unparsable page yields an empty list.
    """
    try:
        matcher = compile_url_pattern(pattern) if pattern else None
    except UnsafePatternError as error:
        raise PermanentError(
            f"article URL pattern {pattern!r}: {error}", kind="bad-pattern"
        ) from error
    # A CPU bound, not data: the budget is shared by every link of the page, so a page of
    # thousands of links each just under a per-match limit cannot add up to hours.
    deadline = time.monotonic() + pattern_budget
    if not html.strip():
        return []
    document = _parse_html(html, encoding)
    if document is None:
        return []
    base = base_url
    for href in document.xpath("//base/@href")[:1]:
        base = urljoin(base_url, str(href).strip())
    home_host = urlsplit(base_url).hostname or ""

    found: dict[str, str | None] = {}
    for anchor in document.iter("a"):
        href = anchor.get("href")
        if not href:
            continue
        url = resolve_http_url(href, base)
        if url is None or not same_site(urlsplit(url).hostname or "", home_host):
            continue
        if matcher is not None and not _matches(matcher, url, deadline, pattern or ""):
            continue
        title = _anchor_title(anchor)
        known = found.get(url)
        # The same article is often linked from an image, a kicker and the headline: the
        # longest text is the headline.
        if url not in found or (title and (known is None or len(title) > len(known))):
            found[url] = title
    return [
        DiscoveredLink(
            outlet_id=outlet_id,
            url=url,
            source_kind=SourceKind.SECTION,
            source_url=base_url,
            title=title,
        )
        for url, title in found.items()
    ]


def _anchor_title(anchor: lxml.html.HtmlElement) -> str | None:
    text = " ".join(anchor.text_content().split())
    if not text:
        text = " ".join((anchor.get("title") or "").split())
    if not text:
        alts = [img.get("alt") or "" for img in anchor.iter("img")]
        text = " ".join(" ".join(alts).split())
    return text[:_TITLE_MAX_CHARS] or None


def _parse_html(html: bytes, encoding: str | None) -> lxml.html.HtmlElement | None:
    if encoding:
        try:
            return lxml.html.document_fromstring(html.decode(encoding, errors="replace"))
        except (LookupError, etree.ParserError, ValueError):
            pass  # unknown codec, or an XML declaration lxml refuses in text: parse the bytes
    try:
        return lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None


def resolve_http_url(value: str, base: str) -> str | None:
    """Resolve `value` against `base` without fragment; None unless an http(s) URL with a host."""
    value = value.strip()
    if not value:
        return None
    try:
        parts = urlsplit(urljoin(base, value))
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    # The fragment never selects a different article; dropping it lets duplicates meet.
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def same_site(host: str, home_host: str) -> bool:
    """True when `host` is the site of `home_host`: same host, www/m variant or a subdomain."""
    host, home = _site_root(host.lower().rstrip(".")), _site_root(home_host.lower().rstrip("."))
    if not host or not home:
        return False
    return host == home or host.endswith("." + home)


def _site_root(host: str) -> str:
    for prefix in _SAME_SITE_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            return host[len(prefix) :]
    return host
