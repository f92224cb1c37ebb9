"""The SQL store on SQLite and PostgreSQL: idempotent upserts, versions, outbox, migrations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from connectors.store import Store
from schemas.errors import PermanentError, TransientError
from schemas.records import DiscoveredLink, ExtractedArticle, LanguageGuess, Outlet, SourceKind
from schemas.tables import metadata

NOW = datetime(2018, 9, 8, 17, 0, tzinfo=UTC)
OUTLET = Outlet(
    id="sputnik-fr",
    name="Sputnik France",
    homepage="https://fr.sputniknews.com/",
    languages=("fr",),
    feeds=("https://fr.sputniknews.com/rss",),
)


def _article(
    text: str = "Le Pentagone a déclaré que les États-Unis combattraient à Idlib.",
    url: str = "https://fr.sputniknews.com/international/201809081038.html?utm_source=x",
) -> ExtractedArticle:
    return ExtractedArticle(
        url=url,
        canonical_url=url.split("?")[0],
        title="Idlib: le Pentagone",
        text=text,
        published_at=datetime(2018, 9, 8, 16, 57, tzinfo=UTC),
    )


def test_migrations_match_the_table_definitions(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_saving_the_same_article_twice_writes_nothing(store: Store) -> None:
    store.upsert_outlet(OUTLET, NOW)
    first = store.save_article(
        OUTLET.id, _article(), capture_id=None, now=NOW, language=LanguageGuess("fr", 0.99)
    )
    second = store.save_article(
        OUTLET.id,
        _article(),
        capture_id=None,
        now=NOW + timedelta(hours=1),
        language=LanguageGuess("fr", 0.99),
    )
    assert first.created
    assert first.changed
    assert not second.created
    assert not second.changed
    assert first.article_id == second.article_id
    counts = store.counts()
    assert counts["articles"] == 1
    assert counts["article_versions"] == 1


def test_changed_content_is_a_new_version_of_the_same_article(store: Store) -> None:
    store.upsert_outlet(OUTLET, NOW)
    first = store.save_article(OUTLET.id, _article(), capture_id=None, now=NOW, language=None)
    store.mark_articles_indexed({first.article_id: (1, "idx")})
    edited = store.save_article(
        OUTLET.id,
        _article(text="Texte mis à jour sur Idlib."),
        capture_id=None,
        now=NOW + timedelta(hours=2),
        language=None,
    )
    assert edited.article_id == first.article_id
    assert edited.version_id != first.version_id
    assert edited.changed
    assert not edited.created
    assert store.counts()["article_versions"] == 2
    # The edit is pending for the index again, and the first publication time is kept.
    assert store.pending_article_ids() == [first.article_id]
    row = store.load_article_documents([first.article_id])[0]
    assert row["version_count"] == 2
    assert row["published_at"] == datetime(2018, 9, 8, 16, 57, tzinfo=UTC)


def test_tracking_parameters_do_not_make_a_second_article(store: Store) -> None:
    store.upsert_outlet(OUTLET, NOW)
    plain = store.save_article(
        OUTLET.id,
        _article(url="https://fr.sputniknews.com/a/1.html"),
        capture_id=None,
        now=NOW,
        language=None,
    )
    tracked = store.save_article(
        OUTLET.id,
        _article(url="https://fr.sputniknews.com/a/1.html?utm_medium=rss"),
        capture_id=None,
        now=NOW,
        language=None,
    )
    assert plain.article_id == tracked.article_id
    assert store.counts()["articles"] == 1


def test_links_are_queued_once_and_failures_are_recorded(store: Store) -> None:
    store.upsert_outlet(OUTLET, NOW)
    link = DiscoveredLink(
        outlet_id=OUTLET.id,
        url="https://fr.sputniknews.com/a/2.html",
        source_kind=SourceKind.FEED,
        source_url="https://fr.sputniknews.com/rss",
    )
    assert store.record_links([link, link], NOW) == 1
    assert store.record_links([link], NOW) == 0
    [pending] = store.pending_links([OUTLET.id])
    store.mark_link_failed(pending.id, TransientError("timed out", kind="timeout"), NOW)
    assert [p.attempts for p in store.pending_links([OUTLET.id])] == [1]
    store.mark_link_failed(pending.id, PermanentError("gone", kind="http-404"), NOW)
    assert store.pending_links([OUTLET.id]) == []


def test_source_health_counts_consecutive_failures(store: Store) -> None:
    store.upsert_outlet(OUTLET, NOW)
    url = OUTLET.feeds[0]
    for _ in range(2):
        store.record_source_result(
            OUTLET.id, "feed", url, now=NOW, error=PermanentError("not a feed", kind="not-a-feed")
        )
    [row] = store.outlet_health()
    assert row.consecutive_failures == 2
    assert row.last_error_kind == "not-a-feed"
    store.record_source_result(OUTLET.id, "feed", url, now=NOW, etag='"v2"', links=3)
    [row] = store.outlet_health()
    assert row.consecutive_failures == 0
    assert store.source_validators(OUTLET.id) == {url: ('"v2"', None)}


@pytest.mark.parametrize("attempt", [1, 2])
def test_migrate_is_idempotent(store: Store, attempt: int) -> None:
    for _ in range(attempt):
        store.migrate()
    assert store.counts()["articles"] == 0
