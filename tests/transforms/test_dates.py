"""Publication-date parsing, plausibility and fusion."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from schemas.records import DateSource
from transforms.dates import (
    DateCandidate,
    candidate_from_datetime,
    choose_publication_date,
    date_from_text,
    date_from_url,
    is_plausible,
    parse_datetime,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _parsed(text: str, source: DateSource = DateSource.META) -> DateCandidate:
    candidate = parse_datetime(text, source)
    assert candidate is not None, text
    return candidate


def test_iso_with_offset_keeps_local_day_and_converts_to_utc() -> None:
    candidate = _parsed("2020-06-29T00:16:15+03:00")
    assert candidate.value == datetime(2020, 6, 28, 21, 16, 15, tzinfo=UTC)
    assert candidate.day == date(2020, 6, 29)
    assert candidate.written_offset == timedelta(hours=3)
    assert candidate.has_time


def test_iso_variants_publishers_write() -> None:
    assert _parsed("2019-12-09 20:00:49").value == datetime(2019, 12, 9, 20, 0, 49, tzinfo=UTC)
    assert _parsed("2022-05-06T02:00:00.824Z").value == datetime(2022, 5, 6, 2, 0, tzinfo=UTC)
    assert _parsed("2021-11-01T10:52:50+0100").value == datetime(2021, 11, 1, 9, 52, 50, tzinfo=UTC)
    # One-digit seconds, as written by a real Italian CMS.
    assert _parsed("2020-12-05T23:15:0Z").value == datetime(2020, 12, 5, 23, 15, tzinfo=UTC)
    assert _parsed("2020/01/13").day == date(2020, 1, 13)


def test_date_only_has_no_time() -> None:
    candidate = _parsed("2020-01-13")
    assert not candidate.has_time
    assert candidate.value == datetime(2020, 1, 13, tzinfo=UTC)


def test_rfc2822_and_epoch() -> None:
    assert _parsed("Mon, 13 Jan 2020 10:00:00 GMT").value == datetime(2020, 1, 13, 10, tzinfo=UTC)
    assert _parsed("1578909600").value == datetime(2020, 1, 13, 10, tzinfo=UTC)


def test_unparseable_and_impossible_values_give_none() -> None:
    assert parse_datetime("yesterday", DateSource.META) is None
    assert parse_datetime("2020-02-30", DateSource.META) is None
    assert parse_datetime("", DateSource.META) is None


def test_url_dates() -> None:
    assert _day(date_from_url("https://x.com/2020/01/13/story/")) == date(2020, 1, 13)
    assert _day(date_from_url("https://x.com/news/story-20200113-abc")) == date(2020, 1, 13)
    assert date_from_url("https://x.com/news/263700449/story") is None
    assert date_from_url("https://x.com/2020/13/45/story") is None


def _day(candidate: DateCandidate | None) -> date | None:
    return candidate.day if candidate else None


def test_future_and_prehistoric_dates_are_implausible() -> None:
    assert not is_plausible(_parsed("2026-11-26T12:00:00Z"), now=NOW)
    assert not is_plausible(_parsed("1970-01-01T00:00:00Z"), now=NOW)
    assert is_plausible(_parsed("2026-11-25T11:50:00Z"), now=NOW)
    # "Today" written without a time in a zone ahead of UTC is still today.
    assert is_plausible(_parsed("2026-11-26"), now=datetime(2026, 11, 25, 13, 0, tzinfo=UTC))


def test_structured_data_outranks_htmldate() -> None:
    chosen = choose_publication_date(
        [
            _parsed("2020-01-20", DateSource.HTMLDATE),
            _parsed("2020-01-19T12:25:36Z", DateSource.JSON_LD),
        ],
        now=NOW,
    )
    assert chosen is not None
    assert chosen.source is DateSource.JSON_LD
    assert chosen.day == date(2020, 1, 19)


def test_implausible_top_candidate_falls_back_to_the_next() -> None:
    chosen = choose_publication_date(
        [
            _parsed("2030-01-01T00:00:00Z", DateSource.JSON_LD),
            _parsed("2020-02-02", DateSource.URL),
        ],
        now=NOW,
    )
    assert chosen is not None
    assert chosen.source is DateSource.URL


def test_no_plausible_candidate_gives_none() -> None:
    assert choose_publication_date([], now=NOW) is None
    assert choose_publication_date([_parsed("1990-01-01")], now=NOW) is None


def test_utc_instant_takes_the_local_day_of_the_same_instant_written_with_offset() -> None:
    chosen = choose_publication_date(
        [_parsed("2019-10-18T22:04:00Z", DateSource.JSON_LD), _parsed("2019-10-19T00:04:00+02:00")],
        now=NOW,
    )
    assert chosen is not None
    assert chosen.value == datetime(2019, 10, 18, 22, 4, tzinfo=UTC)
    assert chosen.day == date(2019, 10, 19)


def test_utc_instant_takes_the_visible_local_day_when_reachable() -> None:
    chosen = choose_publication_date(
        [
            _parsed("2020-02-18T02:18:11Z", DateSource.JSON_LD),
            _parsed("2020-02-17", DateSource.HTMLDATE),
        ],
        now=NOW,
    )
    assert chosen is not None
    assert chosen.day == date(2020, 2, 17)


def test_utc_instant_ignores_a_visible_day_no_common_zone_reaches() -> None:
    chosen = choose_publication_date(
        [
            _parsed("2020-07-09T10:04:04Z", DateSource.JSON_LD),
            _parsed("2020-07-08", DateSource.URL),
        ],
        now=NOW,
    )
    assert chosen is not None
    assert chosen.day == date(2020, 7, 9)


def test_day_only_winner_borrows_the_time_of_a_weaker_candidate_of_that_day() -> None:
    chosen = choose_publication_date(
        [
            _parsed("2020-01-13", DateSource.JSON_LD),
            _parsed("2020-01-13T08:30:00+01:00", DateSource.HTMLDATE),
        ],
        now=NOW,
    )
    assert chosen is not None
    assert chosen.source is DateSource.JSON_LD
    assert chosen.has_time
    assert chosen.value == datetime(2020, 1, 13, 7, 30, tzinfo=UTC)


def test_feed_datetimes_are_normalised_to_utc() -> None:
    aware = datetime(2018, 9, 8, 14, 0, tzinfo=timezone(timedelta(hours=3)))
    candidate = candidate_from_datetime(aware, DateSource.FEED)
    assert candidate.value == datetime(2018, 9, 8, 11, 0, tzinfo=UTC)
    assert candidate.day == date(2018, 9, 8)
    naive = candidate_from_datetime(datetime(2018, 9, 8, 14, 0), DateSource.FEED)
    assert naive.value.tzinfo is UTC


def test_utc_stamp_takes_the_publisher_zone_day_when_the_page_shows_none() -> None:
    # Italian story at 00:15 local time, stamped "2020-12-05T23:15:0Z" by its CMS.
    chosen = choose_publication_date(
        [_parsed("2020-12-05T23:15:0Z", DateSource.JSON_LD)],
        now=NOW,
        publisher_zone=ZoneInfo("Europe/Rome"),
    )
    assert chosen is not None
    assert chosen.day == date(2020, 12, 6)
    assert chosen.value == datetime(2020, 12, 5, 23, 15, tzinfo=UTC)


def test_zone_less_stamp_keeps_its_written_day() -> None:
    chosen = choose_publication_date(
        [_parsed("2020-09-29 00:30:00", DateSource.META)],
        now=NOW,
        publisher_zone=ZoneInfo("America/Mexico_City"),
    )
    assert chosen is not None
    assert chosen.day == date(2020, 9, 29)


def test_visible_dates_in_several_languages_and_shapes() -> None:
    cases = {
        "13 Oct 2020 18:29": (date(2020, 10, 13), datetime(2020, 10, 13, 18, 29, tzinfo=UTC)),
        "Written: 2023-11-07 15:03:30": (date(2023, 11, 7), None),
        "13 Jan 2020, 22:11 GMT+10": (
            date(2020, 1, 13),
            datetime(2020, 1, 13, 12, 11, tzinfo=UTC),
        ),
        "Datum 28.04.2023": (date(2023, 4, 28), None),
        "19. Oktober 2019, 19:08 Uhr": (date(2019, 10, 19), None),
        "29 июня 2020": (date(2020, 6, 29), None),
        "5 de mayo de 2022 - 9:00 p. m.": (
            date(2022, 5, 5),
            datetime(2022, 5, 5, 21, 0, tzinfo=UTC),
        ),
        "October 13, 2020": (date(2020, 10, 13), None),
    }
    for text, (day, instant) in cases.items():
        candidate = date_from_text(text)
        assert candidate is not None, text
        assert candidate.day == day, text
        assert candidate.source is DateSource.TEXT
        if instant is not None:
            assert candidate.value == instant, text


def test_ambiguous_or_dateless_text_gives_no_date() -> None:
    assert date_from_text("04/05/2020") is None  # month-day or day-month: not guessed
    assert date_from_text("1479 views") is None
    assert date_from_text("Mon 3 to 2020") is None
    assert date_from_text("31.02.2020") is None


def test_headline_byline_outranks_htmldate_but_not_the_url() -> None:
    header_today = _parsed("2020-12-08", DateSource.HTMLDATE)
    byline = _parsed("2020-10-13", DateSource.TEXT)
    chosen = choose_publication_date([header_today, byline], now=NOW)
    assert chosen is not None
    assert chosen.day == date(2020, 10, 13)
    url = _parsed("2020-10-12", DateSource.URL)
    chosen = choose_publication_date([byline, url], now=NOW)
    assert chosen is not None
    assert chosen.source is DateSource.URL
