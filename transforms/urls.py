"""Two URL functions, never one: a canonical URL and a lossy dedup key.

`canonicalize_url` returns a URL we can still fetch and show: only changes that cannot alter which
document the server returns (tracking and session parameters, fragments, AMP wrappers, letter case
of scheme/host, default ports). `dedup_key` is lossy and used only for equality: it also drops the
scheme, `www.`/`m.` prefixes, trailing slashes and index files, and sorts the query.
`choose_canonical` decides whether a page's own `rel=canonical` / `og:url` can be believed.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from tld import get_fld

# Query parameters that only say how a reader arrived (campaign, click ids, share buttons).
_TRACKING_EXACT = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ocid",
        "ncid",
        "cmpid",
        "cmp",
        "smid",
        "smtyp",
        "sr_share",
        "share",
        "ref_src",
        "ref_url",
        "ref",
        "referrer",
        "xtor",
        "ito",
        "spm",
        "at_medium",
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
        "wt_mc",
        "wt.mc_id",
        "__twitter_impression",
        "feature",
        "s_cid",
        "cid_source",
        "soc_src",
        "soc_trk",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "matomo_", "hsa_", "oly_", "vero_", "__s")
# Session identifiers: every visitor gets another value for the same document.
_SESSION_PARAMS = frozenset(
    {"phpsessid", "jsessionid", "sid", "sessionid", "session_id", "aspsessionid"}
)
# AMP switches in the query string.
_AMP_PARAMS = frozenset({"amp", "outputtype", "amp_js_v", "usqp", "amp_gsa", "amp_tf"})

_PATH_SESSION = re.compile(r";(jsessionid|phpsessid|sid)=[^/?#]*", re.IGNORECASE)
_AMP_PATH_SUFFIX = re.compile(r"/amp/?$|/amp\.html$", re.IGNORECASE)
_AMP_FILE_SUFFIX = re.compile(r"\.amp(\.html?)$", re.IGNORECASE)
_AMP_CACHE_PATH = re.compile(r"^/(?:c/)?(?:s/)?(.+)$")
_WAYBACK = re.compile(r"^https?://web\.archive\.org/web/\d{1,14}[a-z_]*/+(https?://.+)$", re.I)
_INDEX_FILE = re.compile(r"/(index|default)\.(html?|php|aspx?|jsp|shtml)$", re.IGNORECASE)
_HOST_PREFIX = re.compile(r"^(www\d?|m|mobile|amp)\.")
_MOBILE_PREFIX = re.compile(r"^(m|mobile|amp)\.(?=[^.]+\.[^.]+)")


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered in _TRACKING_EXACT
        or lowered in _SESSION_PARAMS
        or lowered.startswith(_TRACKING_PREFIXES)
    )


def _normalize_escapes(part: str, safe: str) -> str:
    # "%7e" vs "~" vs "%7E": decode then re-quote so equal paths are written alike.
    return quote(unquote(part), safe=safe)


def _unwrap_amp_cache(scheme: str, host: str, path: str) -> str | None:
    """Return the publisher URL inside a Google AMP cache / viewer URL, or None."""
    if host.endswith(".cdn.ampproject.org") or (
        host in {"www.google.com", "google.com"} and path.startswith("/amp/")
    ):
        inner = path[len("/amp") :] if path.startswith("/amp/") else path
        match = _AMP_CACHE_PATH.match(inner)
        if match:
            secure = "/s/" in path[:8]
            return ("https://" if secure or scheme == "https" else "http://") + match.group(1)
    return None


def canonicalize_url(url: str) -> str:
    """Return a fetchable, normalised form of an absolute http(s) URL.

    Guarantees: scheme and host lower-case, default port dropped, no fragment, no tracking or
    session parameters, AMP variants folded to the plain article URL, a path of at least "/".
    Non-http(s) input is returned stripped but otherwise unchanged.
    """
    # " https://x.com/a " from feeds: surrounding whitespace and newlines.
    url = url.strip()
    # "http://[::1", "http://x.com:99999/" from hostile feeds: unparseable URLs are returned as
    # given (the fetcher refuses them) instead of raising out of a whole outlet's discovery.
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"} or not parts.hostname:
        return url
    # "HTTPS://WWW.Example.COM." -> host names are case-insensitive; the root dot is redundant.
    host = parts.hostname.lower().rstrip(".")
    path = parts.path

    # "https://web.archive.org/web/20220721135650/https://www.x.com/a" -> the archived article.
    wayback = _WAYBACK.match(url)
    if wayback is not None:
        return canonicalize_url(wayback.group(1))

    # "https://www-x-com.cdn.ampproject.org/c/s/www.x.com/a" -> the publisher's own URL.
    unwrapped = _unwrap_amp_cache(scheme, host, path)
    if unwrapped is not None:
        return canonicalize_url(unwrapped + (("?" + parts.query) if parts.query else ""))

    # "m.bbc.co.uk/news/1" -> "www.bbc.co.uk/news/1": the mobile edition of the same page.
    host = _MOBILE_PREFIX.sub("www.", host, count=1)
    # "http://x.com:80/a" and "https://x.com:443/a" are the same URL without the port.
    netloc = host
    if port is not None and not (
        (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    ):
        netloc = f"{host}:{port}"

    # "/a;jsessionid=ABC123" -> per-visitor session ids in path parameters.
    path = _PATH_SESSION.sub("", path)
    # "/news/story/amp/" and "/story.amp.html" -> the AMP rendering of "/news/story/".
    path = _AMP_PATH_SUFFIX.sub("/", path)
    path = _AMP_FILE_SUFFIX.sub(r"\1", path)
    # "/a%2db" vs "/a-b": one spelling for the same characters.
    path = _normalize_escapes(path, safe="/:@!$&'()*+,;=-._~") if "%" in path else path
    # "https://x.com" -> "https://x.com/": an empty path is the root.
    path = path or "/"

    query_pairs = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        # "?utm_source=rss&fbclid=..." -> tracking and session parameters name no document.
        if not _is_tracking(name)
        # "?amp=1" / "?outputType=amp" -> the AMP rendering of the same article.
        and name.lower() not in _AMP_PARAMS
    ]
    query = urlencode(query_pairs, doseq=True) if query_pairs else ""
    # "#comments", "#top": fragments never reach the server. "/a \x0c#top" -> "/a": whitespace
    # the fragment or a dropped parameter leaves at the end would be stripped by the next call.
    return urlunsplit((scheme, netloc, path, query, "")).strip()


def dedup_key(url: str) -> str:
    """Return a lossy key for URL equality only (never fetched or shown).

    Two URLs with the same key are treated as the same article: it ignores scheme, `www.`/`m.`/
    `amp.` host prefixes, trailing slashes, index files, query-parameter order and letter case of
    percent escapes, on top of everything `canonicalize_url` folds.
    """
    canonical = canonicalize_url(url)
    try:
        parts = urlsplit(canonical)
        port = parts.port
    except ValueError:  # unparseable: canonicalize_url returned it as given
        return canonical
    if not parts.hostname:
        return canonical
    host = parts.hostname
    # "www.x.com" / "m.x.com" / "amp.x.com" serve the same articles as "x.com".
    while _HOST_PREFIX.match(host) and host.count(".") >= 2:
        host = _HOST_PREFIX.sub("", host, count=1)
    netloc = f"{host}:{port}" if port else host
    # "/story/index.html" and "/story/" are one page.
    path = _INDEX_FILE.sub("/", parts.path)
    # "/story/" vs "/story": servers almost always answer both with the same article.
    path = path.rstrip("/")
    # "?b=2&a=1" vs "?a=1&b=2": parameter order carries no meaning for article pages.
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return f"{netloc}{path}" + (f"?{query}" if query else "")


def registered_domain(url: str) -> str | None:
    """Return the registrable domain of a URL ("news.bbc.co.uk" -> "bbc.co.uk"), or None."""
    host = urlsplit(url).hostname
    if not host:
        return None
    fld = get_fld(url, fail_silently=True, fix_protocol=True)
    # IP addresses and single-label hosts (localhost) have no public suffix: use the host itself.
    return str(fld) if fld else host.lower()


_SLUG_TOKEN = re.compile(r"[^\W_]{3,}", re.UNICODE)
_NUMBER = re.compile(r"\d{4,}")


def _path_tokens(url: str) -> set[str]:
    parts = urlsplit(url)
    return {token.lower() for token in _SLUG_TOKEN.findall(unquote(parts.path + " " + parts.query))}


def _is_root(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path in {"", "/"} and not parts.query


def _same_document(page_url: str, declared: str) -> bool:
    """True unless the two URLs clearly name different articles of one site."""
    page_numbers = set(_NUMBER.findall(urlsplit(page_url).path))
    declared_numbers = set(_NUMBER.findall(urlsplit(declared).path))
    # Article ids: two different long numbers and no shared one -> two different articles.
    if page_numbers and declared_numbers and not page_numbers & declared_numbers:
        shared = _path_tokens(page_url) & _path_tokens(declared)
        return len(shared - page_numbers) >= 3
    page_tokens = _path_tokens(page_url)
    declared_tokens = _path_tokens(declared)
    if len(page_tokens) < 3 or len(declared_tokens) < 3:
        return True
    # Long slugs with nothing in common beyond the section name -> a different article.
    overlap = len(page_tokens & declared_tokens) / min(len(page_tokens), len(declared_tokens))
    return overlap >= 0.3


_FEED_PROXY_HOST = re.compile(
    r"^(?:feedproxy\.google\.com|feeds\.feedburner\.com|news\.google\.com|feeds\.feedblitz\.com|"
    r"[\w-]+\.feedsportal\.com|rss(?:feeds)?\.[\w.-]+)$"
)


def is_feed_proxy(url: str) -> bool:
    """True for feed-tracking redirect URLs (FeedBurner, Google News RSS, rssfeeds.<site>/~/...)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not _FEED_PROXY_HOST.match(host):
        return False
    # rss.<site> hosts also serve the feeds themselves; only their "/~" paths are redirects.
    return not host.startswith("rss") or parts.path.startswith("/~")


def choose_canonical(page_url: str, declared: str | None) -> str:
    """Return the canonical URL for a page: its declared canonical when trustworthy.

    `declared` is the page's `rel=canonical` (or `og:url`), possibly relative. It is used only if
    it is http(s), on the same registered domain as the page (or the page URL is a feed-proxy
    redirect), not the site's home page (a common template bug) unless the page is itself a home
    page, and not visibly another article. A cross-domain canonical on an ordinary page marks a
    syndicated copy: the copy keeps its own URL.
    Otherwise the page's own URL is used. Either way the result is `canonicalize_url`-normalised.
    """
    page = canonicalize_url(page_url)
    if not declared or not declared.strip():
        return page
    candidate = canonicalize_url(urljoin(page_url, declared.strip()))
    if urlsplit(candidate).scheme not in {"http", "https"}:
        return page
    if _is_root(candidate) and not _is_root(page):
        return page
    # A feed-proxy redirect URL (feedproxy.google.com/~r/...) is not the article's address: the
    # page's own declaration is the only way to learn it, whatever its domain or path.
    if is_feed_proxy(page):
        return candidate
    if registered_domain(candidate) != registered_domain(page):
        return page
    if not _same_document(page, candidate):
        return page
    return candidate
