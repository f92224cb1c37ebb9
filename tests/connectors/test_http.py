"""The fetcher against local servers: real fixtures, hostile servers, politeness, typed errors."""

from __future__ import annotations

import gzip
import itertools
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from connectors.http import (
    Fetcher,
    FetchRequest,
    HostLimiter,
    parse_retry_after,
)
from schemas.errors import MediamonError, PermanentError, TransientError
from schemas.records import RawPage
from tests.connectors.conftest import fast_settings
from tests.localserver import Reply, Seen, serve_bytes, serve_status

ROBOTS_ALL = serve_bytes(b"User-agent: *\nAllow: /\n", "text/plain")


def _feed(data_dir: Path, name: str) -> bytes:
    return (data_dir / "feeds" / name).read_bytes()


def _expect_error(fetcher: Fetcher, url: str, kind: str, **kwargs: object) -> MediamonError:
    with pytest.raises(MediamonError) as caught:
        fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]
    assert caught.value.kind == kind, caught.value
    return caught.value


# --- plain success, validators, decoding ---------------------------------------------------------


def test_fetch_returns_raw_page_with_headers_and_utc_time(serve, fetcher, data_dir):
    body = _feed(data_dir, "theguardian-com__rss-parser-guardian.xml")
    server = serve({"/robots.txt": ROBOTS_ALL, "/rss": serve_bytes(body, "application/rss+xml")})
    page = fetcher.fetch(server.url("/rss"), purpose="feed")
    assert page.status == 200
    assert page.body == body
    assert page.content_type == "application/rss+xml"
    assert page.final_url == page.requested_url == server.url("/rss")
    assert page.fetched_at.tzinfo is not None
    assert abs((datetime.now(UTC) - page.fetched_at).total_seconds()) < 30
    sent = next(seen for seen in server.requests if seen.path == "/rss")
    assert sent.headers["user-agent"].startswith("mediamon/")
    assert "gzip" in sent.headers["accept-encoding"]


def test_conditional_get_returns_304_page(serve, fetcher, data_dir):
    body = _feed(data_dir, "heise-de__rss-parser-heise.atom")

    def conditional(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"v1"':
            return Reply(304, {"ETag": '"v1"'}, b"")
        return Reply(200, {"Content-Type": "application/atom+xml", "ETag": '"v1"'}, body)

    server = serve({"/robots.txt": ROBOTS_ALL, "/atom": conditional})
    first = fetcher.fetch(server.url("/atom"), purpose="feed")
    assert first.status == 200
    assert first.header("etag") == '"v1"'
    second = fetcher.fetch(
        server.url("/atom"), etag='"v1"', last_modified="Mon, 01 Feb 2016 16:22:00 GMT"
    )
    assert second.status == 304
    assert second.body == b""
    last = server.requests[-1]
    assert last.headers["if-none-match"] == '"v1"'
    assert last.headers["if-modified-since"] == "Mon, 01 Feb 2016 16:22:00 GMT"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
def test_content_encoding_is_undone(serve, fetcher, data_dir, coding):
    # A GB2312 page: the bytes must come back exactly, not re-encoded.
    body = (
        data_dir
        / "pages"
        / "zh"
        / "he-xinhuanet-com__traf-archive-org-he-xinhuanet-com-25340717.html"
    ).read_bytes()
    if coding == "gzip":
        encoded, header = gzip.compress(body), "gzip"
    elif coding == "deflate":
        encoded, header = zlib.compress(body), "deflate"
    else:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        encoded, header = compressor.compress(body) + compressor.flush(), "deflate"
    server = serve(
        {
            "/robots.txt": ROBOTS_ALL,
            "/a": serve_bytes(encoded, "text/html", **{"Content-Encoding": header}),
        }
    )
    page = fetcher.fetch(server.url("/a"))
    assert page.body == body


# --- hostile or broken servers -------------------------------------------------------------------


def test_gzip_bomb_is_refused_with_bounded_memory(serve, fetcher):
    # 64 MiB of zeros gzip to ~64 KiB: small on the wire, far past the 4 MiB inflation cap.
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    server = serve(
        {
            "/robots.txt": ROBOTS_ALL,
            "/bomb": serve_bytes(bomb, "text/html", **{"Content-Encoding": "gzip"}),
        }
    )
    tracemalloc.start()
    try:
        _expect_error(fetcher, server.url("/bomb"), "decompression-bomb")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024


def test_one_gigabyte_stream_is_cut_at_the_cap(serve, fetcher):
    sent = {"bytes": 0}

    def endless(_seen: Seen) -> Reply:
        def chunks() -> Iterator[bytes]:
            block = b"<p>" + b"x" * 65533
            for _ in range(16384):  # 16384 x 64 KiB = 1 GiB, generated lazily
                sent["bytes"] += len(block)
                yield block

        return Reply(200, {"Content-Type": "text/html"}, chunks())

    server = serve({"/robots.txt": ROBOTS_ALL, "/huge": endless})
    tracemalloc.start()
    try:
        error = _expect_error(fetcher, server.url("/huge"), "too-large")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, PermanentError)
    assert peak < 16 * 1024 * 1024
    assert sent["bytes"] < 64 * 1024 * 1024  # the client hung up long before 1 GiB


def test_declared_oversize_is_refused_before_reading(serve, fetcher):
    server = serve(
        {
            "/robots.txt": ROBOTS_ALL,
            "/big": lambda _s: Reply(
                200, {"Content-Type": "text/html", "Content-Length": str(10**9)}, b""
            ),
        }
    )
    _expect_error(fetcher, server.url("/big"), "too-large")


def test_slow_drip_server_hits_the_total_deadline(serve):
    body = b"<html>" + b"a" * 200 + b"</html>"
    server = serve(
        {
            "/robots.txt": ROBOTS_ALL,
            "/drip": lambda _s: Reply(200, {"Content-Type": "text/html"}, body, chunk_delay=0.2),
        }
    )
    # Each byte arrives well within the read timeout; only the total deadline can stop this.
    with Fetcher(fast_settings(read_timeout=1.0, total_timeout=1.2, retries=0)) as fetcher:
        started = time.monotonic()
        error = _expect_error(fetcher, server.url("/drip"), "too-slow")
    assert isinstance(error, TransientError)
    assert time.monotonic() - started < 4


def test_silent_server_times_out(serve):
    release = threading.Event()

    def silent(_seen: Seen) -> Reply:
        release.wait(5)
        return Reply(200, {"Content-Type": "text/html"}, b"late")

    server = serve({"/robots.txt": ROBOTS_ALL, "/silent": silent})
    with Fetcher(fast_settings(read_timeout=0.3, retries=0)) as fetcher:
        _expect_error(fetcher, server.url("/silent"), "timeout")
    release.set()


def test_endless_redirect_loop_is_detected(serve, fetcher):
    server = serve(
        {
            "/robots.txt": ROBOTS_ALL,
            "/a": lambda _s: Reply(302, {"Location": "/b"}),
            "/b": lambda _s: Reply(301, {"Location": "/a"}),
        }
    )
    _expect_error(fetcher, server.url("/a"), "redirect-loop")
    assert server.paths().count("/a") == 1


def test_redirect_chain_longer_than_limit(serve, fetcher):
    counter = itertools.count()
    server = serve(
        {"/robots.txt": ROBOTS_ALL},
        default=lambda _s: Reply(307, {"Location": f"/hop/{next(counter)}"}),
    )
    _expect_error(fetcher, server.url("/start"), "too-many-redirects")
    hops = [path for path in server.paths() if path != "/robots.txt"]
    assert len(hops) == fetcher.settings.max_redirects + 1


def test_redirects_are_followed_and_recorded(serve, fetcher):
    server = serve(
        {
            "/robots.txt": ROBOTS_ALL,
            "/old": lambda _s: Reply(301, {"Location": "/new"}),
            "/new": serve_bytes(b"<html>ok</html>", "text/html"),
        }
    )
    page = fetcher.fetch(server.url("/old"))
    assert page.final_url == server.url("/new")
    assert page.requested_url == server.url("/old")
    assert page.redirects == (server.url("/old"),)


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.2:{port}/x",
        "http://[::1]:{port}/x",
        "http://2130706434:{port}/x",
        "http://10.0.0.1/",
    ],
)
def test_redirect_to_private_address_is_refused(serve, fetcher, target):
    server = serve({"/robots.txt": ROBOTS_ALL})
    server.routes["/go"] = lambda _s: Reply(302, {"Location": target.format(port=server.port)})
    error = _expect_error(fetcher, server.url("/go"), "forbidden-address")
    assert "refusing" in error.message


@pytest.mark.parametrize(
    "target", ["http://localhost:{port}/x", "http://127.0.0.2:{port}/x", "http://10.0.0.1/"]
)
def test_a_per_request_private_permission_covers_the_requested_host_only(serve, target):
    page = serve_bytes(b"<html><body><p>ok</p></body></html>", "text/html")
    server = serve({"/robots.txt": ROBOTS_ALL, "/new": page})
    server.routes["/go"] = lambda _s: Reply(302, {"Location": target.format(port=server.port)})
    server.routes["/same"] = lambda _s: Reply(302, {"Location": server.url("/new")})
    with Fetcher(fast_settings(allowed_private_networks=())) as strict:
        # The trusted host itself, and a redirect that stays on it, are reachable...
        assert strict.fetch(server.url("/same"), allow_private=True).status == 200
        # ...a redirect to any other private host is not, although the request allowed private.
        error = _expect_error(strict, server.url("/go"), "forbidden-address", allow_private=True)
    assert "refusing" in error.message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/",
        "http://2130706433:{port}/",
        "http://0x7f.0.0.1:{port}/",
        "http://0177.0.0.1:{port}/",
        "http://127.1:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://localhost:{port}/",
        "http://169.254.169.254/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0:{port}/",
    ],
)
def test_private_targets_refused_by_default_settings(serve, url):
    server = serve({"/robots.txt": ROBOTS_ALL, "/": serve_bytes(b"secret", "text/html")})
    with Fetcher(fast_settings(allowed_private_networks=(), retries=0)) as strict:
        _expect_error(strict, url.format(port=server.port), "forbidden-address")
    assert server.paths() == []  # nothing, not even robots.txt, reached the server


def test_allow_private_per_request_opens_loopback_but_not_metadata(serve):
    server = serve({"/robots.txt": ROBOTS_ALL, "/": serve_bytes(b"<p>hi</p>", "text/html")})
    with Fetcher(fast_settings(allowed_private_networks=(), retries=0)) as strict:
        assert strict.fetch(server.url("/"), allow_private=True).body == b"<p>hi</p>"
        _expect_error(strict, "http://169.254.169.254/", "forbidden-address", allow_private=True)


def test_429_with_retry_after_seconds_is_waited_then_retried(serve, data_dir):
    body = _feed(data_dir, "cnn-com__rss-fetcher-real-cnn.xml")
    answers = iter(
        [Reply(429, {"Retry-After": "1"}), Reply(200, {"Content-Type": "text/xml"}, body)]
    )
    server = serve({"/robots.txt": ROBOTS_ALL, "/feed": lambda _s: next(answers)})
    waits: list[float] = []
    with Fetcher(fast_settings(), sleep=waits.append) as fetcher:
        page = fetcher.fetch(server.url("/feed"), purpose="feed")
    assert page.body == body
    assert waits
    assert waits[0] >= 1.0
    # ... and the host itself was deferred, so the retry reached the server a second later
    # even though the test's sleep function returns at once.
    arrivals = [seen.at for seen in server.requests if seen.path == "/feed"]
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.9  # 1 s asked; slack for server-side stamping


def test_retry_after_beyond_cap_is_reported_not_waited(serve):
    server = serve({"/robots.txt": ROBOTS_ALL, "/x": serve_status(429, **{"Retry-After": "3600"})})
    waits: list[float] = []
    with Fetcher(fast_settings(), sleep=waits.append) as fetcher:
        error = _expect_error(fetcher, server.url("/x"), "http-429")
    assert getattr(error, "retry_after", None) == 3600
    assert waits == []


def test_retry_after_http_date_is_parsed():
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(90, abs=1)
    assert parse_retry_after("120", now=now) == 120
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


def test_server_errors_then_success(serve):
    answers = iter(
        [Reply(500), Reply(503), Reply(200, {"Content-Type": "text/html"}, b"<p>ok</p>")]
    )
    server = serve({"/robots.txt": ROBOTS_ALL, "/flaky": lambda _s: next(answers)})
    waits: list[float] = []
    with Fetcher(
        fast_settings(retries=3, backoff_base=1.0, backoff_cap=8.0), sleep=waits.append
    ) as fetcher:
        assert fetcher.fetch(server.url("/flaky")).body == b"<p>ok</p>"
    assert server.paths().count("/flaky") == 3
    # exponential backoff with jitter: the second wait is longer than the first on average
    assert len(waits) == 2
    assert 0.4 <= waits[0] <= 1.6
    assert 0.9 <= waits[1] <= 3.1


def test_server_errors_exhaust_retries(serve):
    server = serve({"/robots.txt": ROBOTS_ALL, "/down": serve_status(502)})
    with Fetcher(fast_settings(retries=1), sleep=lambda _s: None) as fetcher:
        error = _expect_error(fetcher, server.url("/down"), "http-5xx")
    assert isinstance(error, TransientError)
    assert server.paths().count("/down") == 2


@pytest.mark.parametrize("status", [404, 410, 403])
def test_client_errors_are_permanent(serve, fetcher, status):
    server = serve({"/robots.txt": ROBOTS_ALL, "/gone": serve_status(status)})
    error = _expect_error(fetcher, server.url("/gone"), "http-4xx")
    assert isinstance(error, PermanentError)
    assert getattr(error, "status", None) == status
    assert server.paths().count("/gone") == 1  # never retried


def test_wrong_content_type_for_purpose(serve, fetcher):
    server = serve({"/robots.txt": ROBOTS_ALL, "/img": serve_bytes(b"\x89PNG....", "image/png")})
    _expect_error(fetcher, server.url("/img"), "bad-content-type")
    _expect_error(fetcher, server.url("/img"), "bad-content-type", purpose="feed")


def test_connection_refused_is_transient(serve):
    server = serve({})
    port = server.port
    server.stop()
    with Fetcher(fast_settings(retries=0)) as fetcher:
        _expect_error(fetcher, f"http://127.0.0.1:{port}/x", "connection")


def test_non_http_schemes_are_refused(fetcher):
    for url in ("file:///etc/passwd", "ftp://example.org/x", "gopher://127.0.0.1/"):
        _expect_error(fetcher, url, "bad-url")


# --- robots.txt ----------------------------------------------------------------------------------


def test_robots_disallowed_section_is_never_requested(serve, fetcher):
    robots = b"User-agent: *\nDisallow: /private/\n\nUser-agent: mediamon\nDisallow: /politics/\n"
    server = serve(
        {"/robots.txt": serve_bytes(robots, "text/plain")},
        default=lambda _s: Reply(200, {"Content-Type": "text/html"}, b"<p>x</p>"),
    )
    _expect_error(fetcher, server.url("/politics/idlib-2018"), "robots-disallowed")
    assert fetcher.fetch(server.url("/private/ok-for-us")).status == 200  # our group wins
    assert fetcher.fetch(server.url("/world/syria")).status == 200
    assert "/politics/idlib-2018" not in server.paths()
    assert server.paths().count("/robots.txt") == 1  # cached per origin


def test_redirect_into_disallowed_path_is_stopped(serve, fetcher):
    server = serve(
        {
            "/robots.txt": serve_bytes(b"User-agent: *\nDisallow: /secret\n", "text/plain"),
            "/open": lambda _s: Reply(302, {"Location": "/secret/page"}),
        }
    )
    _expect_error(fetcher, server.url("/open"), "robots-disallowed")
    assert "/secret/page" not in server.paths()


def test_missing_robots_allows_and_failing_robots_blocks(serve, fetcher):
    ok = serve({"/page": serve_bytes(b"<p>a</p>", "text/html")})  # robots.txt -> 404
    assert fetcher.fetch(ok.url("/page")).status == 200
    broken = serve(
        {"/robots.txt": serve_status(503), "/page": serve_bytes(b"<p>a</p>", "text/html")}
    )
    error = _expect_error(fetcher, broken.url("/page"), "robots-unavailable")
    assert isinstance(error, TransientError)
    assert "/page" not in broken.paths()


def test_robots_crawl_delay_spaces_requests(serve):
    server = serve(
        {"/robots.txt": serve_bytes(b"User-agent: *\nCrawl-delay: 0.5\n", "text/plain")},
        default=lambda _s: Reply(200, {"Content-Type": "text/html"}, b"<p>x</p>"),
    )
    with Fetcher(fast_settings()) as fetcher:
        for index in range(4):
            fetcher.fetch(server.url(f"/p{index}"))
    arrivals = [seen.at for seen in server.requests]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.4  # 0.5 s asked; slack for the server's own stamping noise


# --- politeness and concurrency ------------------------------------------------------------------


def test_per_host_rate_is_shared_by_concurrent_workers(serve):
    server = serve(
        {"/robots.txt": ROBOTS_ALL},
        default=lambda _s: Reply(200, {"Content-Type": "text/html"}, b"<p>x</p>"),
    )
    with Fetcher(fast_settings(default_requests_per_second=4.0)) as fetcher:
        requests = [FetchRequest(server.url(f"/p{i}")) for i in range(5)]
        results = list(fetcher.fetch_many(requests, max_workers=8))
    assert all(isinstance(page, RawPage) for _, page in results)
    arrivals = sorted(seen.at for seen in server.requests)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.2  # 4 requests/s, robots.txt included (slack for stamping noise)


def test_fetch_many_spreads_over_hosts_and_returns_errors_as_values(serve):
    page_route = lambda _s: Reply(200, {"Content-Type": "text/html"}, b"<p>x</p>")  # noqa: E731
    servers = [serve({"/robots.txt": ROBOTS_ALL}, default=page_route) for _ in range(8)]
    servers[0].routes["/p3"] = serve_status(404)
    with Fetcher(fast_settings(default_requests_per_second=5.0)) as fetcher:
        requests = [FetchRequest(s.url(f"/p{i}")) for s in servers for i in range(5)]
        started = time.monotonic()
        results = dict(
            (request.url, outcome)
            for request, outcome in fetcher.fetch_many(requests, max_workers=8)
        )
        elapsed = time.monotonic() - started
    assert len(results) == 40
    assert results[servers[0].url("/p3")].kind == "http-4xx"  # type: ignore[union-attr]
    assert sum(isinstance(v, RawPage) for v in results.values()) == 39
    # 6 requests per host at 5/s need >= 1.0 s per host; hosts run in parallel, not in series.
    assert 0.95 <= elapsed < 5.0  # in series the 8 hosts would need >= 8 s


def test_fetch_many_accepts_items_with_url_and_options(serve):
    server = serve(
        {"/robots.txt": ROBOTS_ALL},
        default=lambda _s: Reply(200, {"Content-Type": "text/html"}, b"<p/>"),
    )
    items = [("a", server.url("/a")), ("b", server.url("/b"))]
    with Fetcher(fast_settings()) as fetcher:
        out = list(
            fetcher.fetch_many(
                items,
                url_of=lambda item: item[1],
                options_of=lambda item: {"etag": None, "requests_per_second": 50.0},
            )
        )
    assert sorted(item[0] for item, _ in out) == ["a", "b"]


def test_host_limiter_reserves_slots():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = HostLimiter(
        default_interval=0.5, default_concurrency=4, clock=lambda: now[0], sleep=sleep
    )
    for _ in range(3):
        limiter.acquire("h")
        limiter.release("h")
    assert slept == [0.5, 0.5]
    limiter.defer("h", 10)
    assert limiter.ready_in("h") == pytest.approx(10)
    assert limiter.ready_in("other") == 0


def test_header_drip_hits_the_total_deadline():
    # A raw socket server that sends its status line and headers one byte every 0.1 s: each
    # read succeeds within the read timeout, so only the total deadline can end it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Pad: " + b"a" * 200:
                    if stop.is_set():
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break
                    time.sleep(0.1)

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    settings = fast_settings(read_timeout=1.0, total_timeout=1.0, retries=0, respect_robots=False)
    try:
        with Fetcher(settings) as fetcher:
            started = time.monotonic()
            _expect_error(fetcher, f"http://127.0.0.1:{port}/", "too-slow")
            assert time.monotonic() - started < 3
    finally:
        stop.set()
        listener.close()
