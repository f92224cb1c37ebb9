"""`mediamon fetch URL`: one URL through the real fetcher (robots, safety, caps, decoding)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from connectors.http import Fetcher, FetchSettings, Purpose
from schemas.errors import MediamonError, TransientError
from schemas.records import RawPage
from transforms.encoding import decode_html

_PURPOSES: tuple[Purpose, ...] = ("page", "feed", "sitemap", "robots")


def describe_page(page: RawPage) -> dict[str, object]:
    """What `mediamon fetch` prints about a page: status, URLs, type, size, charset, validators."""
    _text, encoding = decode_html(page.body, page.header("content-type")) if page.body else ("", "")
    return {
        "status": page.status,
        "requested_url": page.requested_url,
        "final_url": page.final_url,
        "redirects": list(page.redirects),
        "content_type": page.content_type,
        "bytes": len(page.body),
        "encoding": encoding or None,
        "etag": page.header("etag"),
        "last_modified": page.header("last-modified"),
        "fetched_at": page.fetched_at.isoformat(),
    }


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `fetch` to `app` (no evaluation command)."""

    @app.command("fetch")
    def fetch_command(
        url: Annotated[str, typer.Argument(help="the URL to fetch")],
        allow_private: Annotated[
            bool,
            typer.Option("--allow-private", help="allow private/loopback addresses (not metadata)"),
        ] = False,
        purpose: Annotated[
            str, typer.Option(help="page, feed, sitemap or robots (selects accepted types)")
        ] = "page",
        timeout: Annotated[
            float, typer.Option(help="total seconds allowed for the response")
        ] = 30.0,
        retries: Annotated[int, typer.Option(help="retries on timeouts, 429 and 5xx")] = 1,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """Fetch one URL politely and safely; print what came back or the typed error."""
        if purpose not in _PURPOSES:
            raise typer.BadParameter(f"purpose must be one of {', '.join(_PURPOSES)}")
        settings = FetchSettings(
            allow_private=allow_private,
            total_timeout=timeout,
            read_timeout=min(timeout, FetchSettings().read_timeout),
            retries=retries,
        )
        with Fetcher(settings) as fetcher:
            try:
                page = fetcher.fetch(url, purpose=purpose)
            except MediamonError as error:
                facts: dict[str, object] = {
                    "error": error.kind,
                    "transient": isinstance(error, TransientError),
                    "reason": error.message,
                }
                if as_json:
                    typer.echo(json.dumps(facts, ensure_ascii=False))
                else:
                    typer.echo(f"error: {error.kind}", err=True)
                    typer.echo(f"reason: {error.message}", err=True)
                raise typer.Exit(code=3 if isinstance(error, TransientError) else 2) from None
        facts = describe_page(page)
        if as_json:
            typer.echo(json.dumps(facts, ensure_ascii=False))
            return
        for key, value in facts.items():
            if key == "redirects":
                value = " -> ".join(page.redirects) if page.redirects else "none"
            typer.echo(f"{key}: {value}")
