"""The Elasticsearch connector against the local server, through the official client only."""

from __future__ import annotations

import pytest

from connectors.localsearch import LocalSearchServer, free_port
from connectors.search import (
    BulkOutcome,
    IndexAction,
    SearchAuthError,
    SearchConfigError,
    SearchIndex,
    SearchRequestError,
    SearchSettings,
    SearchUnavailableError,
)
from schemas.errors import MediamonError
from schemas.index import article_index_name, articles_alias
from tests.reliability.hostileserver import FailingSearch


def _doc(article_id: str, month: int) -> dict[str, object]:
    return {
        "article_id": article_id,
        "outlet": "sputnik-fr",
        "url": f"https://x.fr/{article_id}",
        "canonical_url": f"https://x.fr/{article_id}",
        "title": "Idlib",
        "text": "Idlib texte",
        "text_fr": "Idlib texte",
        "language": "fr",
        "published_at": f"2018-{month:02d}-08T16:57:00+00:00",
        "topics": ["syria"],
        "tag_evidence": [
            {
                "topic": "syria",
                "term": "syri*",
                "matched": "syrie",
                "field": "title",
                "position": 0,
                "weight": 3.0,
            }
        ],
        "is_origin": True,
        "story_size": 1,
    }


def test_monthly_indices_behind_the_alias_take_documents_once(
    search_server: LocalSearchServer, search_prefix: str
) -> None:
    index = SearchIndex(SearchSettings(url=search_server.url, prefix=search_prefix))
    index.ensure_layout()
    index.ensure_layout()  # idempotent
    actions = [
        IndexAction(
            article_index_name(search_prefix, 2018, month), f"a{month}", _doc(f"a{month}", month)
        )
        for month in (8, 9, 9)
    ]
    outcome = index.bulk(actions)
    assert not outcome.failed
    again = index.bulk(actions)
    assert not again.failed
    index.refresh()
    assert index.count_articles() == 2
    assert index.article_indices() == [
        article_index_name(search_prefix, 2018, 8),
        article_index_name(search_prefix, 2018, 9),
    ]
    hits = index.search(articles_alias(search_prefix), {"query": {"term": {"topics": "syria"}}})[
        "hits"
    ]["hits"]
    assert sorted(hit["_id"] for hit in hits) == ["a8", "a9"]


def test_a_rejected_document_is_reported_not_raised(
    search_server: LocalSearchServer, search_prefix: str
) -> None:
    index = SearchIndex(SearchSettings(url=search_server.url, prefix=search_prefix))
    index.ensure_layout()
    good = IndexAction(article_index_name(search_prefix, 2018, 9), "good", _doc("good", 9))
    bad = IndexAction(
        article_index_name(search_prefix, 2018, 9), "bad", {**_doc("bad", 9), "not_in_mapping": 1}
    )
    outcome = index.bulk([good, bad])
    assert [a.doc_id for a in outcome.succeeded] == ["good"]
    assert [a.doc_id for a, _ in outcome.failed] == ["bad"]


def test_an_unreachable_cluster_is_a_transient_error() -> None:
    index = SearchIndex(
        SearchSettings(url=f"http://127.0.0.1:{free_port()}", prefix="x", request_timeout=2)
    )
    assert not index.ping()
    with pytest.raises(SearchUnavailableError):
        index.ensure_layout()
    with pytest.raises(SearchUnavailableError):
        index.bulk([IndexAction("x-articles-v1-2018.09", "a", {"article_id": "a"})])


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (501, SearchUnavailableError),
        (500, SearchUnavailableError),
        (429, SearchUnavailableError),
        (408, SearchUnavailableError),
        (401, SearchAuthError),
        (403, SearchAuthError),
        (400, SearchRequestError),
        (405, SearchRequestError),
        (418, SearchRequestError),
    ],
)
def test_every_error_status_of_every_call_is_a_typed_error(
    status: int, expected: type[MediamonError]
) -> None:
    with FailingSearch(status) as failing:
        index = SearchIndex(SearchSettings(url=failing.url, prefix="x", request_timeout=5))
        calls = {
            "layout": index.ensure_layout,
            "list": lambda: index.list_indices("x-*"),
            "aliases": lambda: index.alias_indices("x-articles"),
            "create": lambda: index.create_index("x-new", {}),
            "templates": lambda: index.put_templates({"x": {"index_patterns": ["x-*"]}}),
            "swap": lambda: index.update_aliases([{"add": {"index": "x", "alias": "y"}}]),
            "delete": lambda: index.delete_indices(["x-old"]),
            "missing": lambda: index.missing_documents([("a", "x-articles")]),
            "count": lambda: index.count_index("x-articles"),
            "refresh": index.refresh,
            "bulk": lambda: index.bulk([IndexAction("x-a", "a", {"article_id": "a"})]),
        }
        raised: dict[str, type[Exception] | None] = {}
        for name, call in calls.items():
            try:
                outcome = call()
            except MediamonError as error:
                raised[name] = type(error)
                continue
            raised[name] = None
            # bulk reports a refused request per document, which stays pending
            assert isinstance(outcome, BulkOutcome)
            assert not outcome.succeeded
        index.close()
    assert raised == {name: None if name == "bulk" else expected for name in calls}


def test_a_malformed_search_url_names_the_problem_without_the_password() -> None:
    secret = "Url-Secret-77a2"
    with pytest.raises(SearchConfigError) as caught:
        SearchIndex(SearchSettings(url=f"http://elastic:{secret}@127.0.0.1:notaport"))
    assert secret not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert "http://***@127.0.0.1:notaport" in str(caught.value)
