"""Publication-date candidates and their fusion into one trusted time.

Every piece of evidence (JSON-LD `datePublished`, `<meta property="article:published_time">`,
the feed or sitemap entry, a date in the URL, a date written beside the headline
(`date_from_text`), htmldate's guess) becomes a `DateCandidate` carrying the instant in UTC *and*
the calendar day as the publisher wrote it (the day a reader of the page sees; the two differ for
evening stories east or west of Greenwich). `choose_publication_date`
drops implausible candidates (after the fetch, before the web) and picks the most trusted one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime

from schemas.records import DateSource

# Nothing we monitor was published on the web before this.
EARLIEST_PLAUSIBLE = datetime(1995, 1, 1, tzinfo=UTC)
# A date without a time means "some time that day, publisher's zone": up to UTC+14 can be ahead.
_DATE_ONLY_SLACK = timedelta(hours=14)
# Clock skew between the publisher's server and ours.
_CLOCK_SKEW = timedelta(minutes=15)

# Most trusted first. Structured data is written by the CMS at publication; feed/sitemap entries
# are too but are often rewritten on update; URL and htmldate are guesses from text. A date the
# caller read beside the headline (TEXT) outranks htmldate's whole-page guess, which on pages
# without metadata often takes the "today" date of the site header (news.az, world.kbs.co.kr).
_PRIORITY: dict[DateSource, int] = {
    source: rank
    for rank, source in enumerate(
        (
            DateSource.JSON_LD,
            DateSource.META,
            DateSource.FEED,
            DateSource.SITEMAP,
            DateSource.URL,
            DateSource.TEXT,
            DateSource.HTMLDATE,
        )
    )
}


@dataclass(frozen=True, slots=True)
class DateCandidate:
    """One piece of evidence for the publication time.

    `value` is timezone-aware UTC; `day` is the calendar day in the publisher's own zone (as
    written); `has_time` is False when the evidence only named a day (then `value` is midnight UTC);
    `written_offset` is the UTC offset the evidence was written with (None when it named none).
    """

    value: datetime
    day: date
    source: DateSource
    has_time: bool
    written_offset: timedelta | None = None


_ISO_LIKE = re.compile(
    r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"
    r"(?:[T\s]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{1,2})(?:[.,]\d+)?)?)?"
    r"\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}:?\d{2}|[+-]\d{2}(?!\d))?",
    re.IGNORECASE,
)
_COMPACT = re.compile(
    r"^(?P<y>(?:19|20)\d{2})(?P<m>[01]\d)(?P<d>[0-3]\d)(?:T?(?P<H>\d{2})(?P<M>\d{2}))?"
)
_EPOCH = re.compile(r"^\d{10}(?:\d{3})?$")


def _offset(text: str | None) -> timezone | None:
    if not text:
        return None
    text = text.upper()
    if text in {"Z", "UTC", "GMT"}:
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 14 or minutes >= 60:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_datetime(text: str, source: DateSource) -> DateCandidate | None:
    """Parse a date or date-time as publishers write it in metadata; None if not understood.

    Accepts ISO 8601 and its common variants ("2020-01-13 10:00:00+0100", "2020/01/13"), compact
    "20200113", RFC 2822 ("Mon, 13 Jan 2020 10:00:00 GMT") and Unix epochs. A time without a zone
    is read as UTC (its calendar day is kept as written).
    """
    text = text.strip()
    if not text:
        return None
    if _EPOCH.match(text):
        seconds = int(text[:10])
        value = datetime.fromtimestamp(seconds, tz=UTC)
        return DateCandidate(value, value.date(), source, True)
    match = _ISO_LIKE.search(text) or _COMPACT.match(text)
    if match:
        groups = match.groupdict()
        try:
            day = date(int(groups["y"]), int(groups["m"]), int(groups["d"]))
        except ValueError:
            return None
        if groups.get("H") is None:
            value = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return DateCandidate(value, day, source, False)
        hour, minute = int(groups["H"]), int(groups["M"])
        second = int(groups.get("S") or 0)
        if hour > 23 or minute > 59 or second > 59:
            return DateCandidate(
                datetime(day.year, day.month, day.day, tzinfo=UTC), day, source, False
            )
        written = _offset(groups.get("tz"))
        zone = written or UTC
        local = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone)
        offset = written.utcoffset(None) if written else None
        return DateCandidate(local.astimezone(UTC), day, source, True, offset)
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return DateCandidate(parsed.astimezone(UTC), parsed.date(), source, True, parsed.utcoffset())


def candidate_from_datetime(value: datetime, source: DateSource) -> DateCandidate:
    """Wrap an already-parsed datetime (e.g. a feed entry's) as a candidate; naive means UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return DateCandidate(value.astimezone(UTC), value.date(), source, True, value.utcoffset())


_URL_DATE = re.compile(
    r"(?<![0-9])((?:19|20)\d{2})[/_-]?(0[1-9]|1[0-2])[/_-]?(0[1-9]|[12]\d|3[01])(?![0-9])"
)
_URL_DATE_SLASHED = re.compile(r"/((?:19|20)\d{2})/(\d{1,2})/(\d{1,2})/")


def date_from_url(url: str) -> DateCandidate | None:
    """Return the day written in an article URL ("/2020/01/13/", "-20200113-"), or None."""
    path = url.split("?", 1)[0]
    for pattern in (_URL_DATE_SLASHED, _URL_DATE):
        match = pattern.search(path)
        if match:
            try:
                day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError:
                continue
            return DateCandidate(
                datetime(day.year, day.month, day.day, tzinfo=UTC), day, DateSource.URL, False
            )
    return None


def is_plausible(candidate: DateCandidate, *, now: datetime) -> bool:
    """True unless the candidate is after `now` (slack for date-only values) or before 1995."""
    slack = _DATE_ONLY_SLACK if not candidate.has_time else _CLOCK_SKEW
    return EARLIEST_PLAUSIBLE <= candidate.value <= now + slack


def choose_publication_date(
    candidates: list[DateCandidate], *, now: datetime, publisher_zone: tzinfo | None = None
) -> DateCandidate | None:
    """Return the most trusted plausible candidate, or None when there is none.

    Sources rank JSON-LD, meta, feed, sitemap, URL, text beside the headline, htmldate. A
    day-only candidate from a stronger source is completed with the time of a weaker candidate of
    the same day, so the result carries a time whenever any evidence had one.

    The day reported is the publisher's calendar day: for an instant written in UTC it is taken
    from the same instant written elsewhere with an offset, else from a visible day-only date that
    a common zone reaches, else from `publisher_zone` (the outlet's home zone) when given.
    """
    plausible = [c for c in candidates if is_plausible(c, now=now)]
    if not plausible:
        return None
    ranked = sorted(plausible, key=lambda c: (_PRIORITY[c.source], not c.has_time))
    best = ranked[0]
    # Only an explicit UTC stamp ("Z", "+00:00") hides the local day; a zone-less stamp is
    # almost always local time already, so its written day stands.
    if best.has_time and best.written_offset == timedelta(0):
        local = _local_day_from_page(best, ranked[1:])
        if local is None and publisher_zone is not None:
            local = best.value.astimezone(publisher_zone).date()
        if local is not None:
            best = DateCandidate(best.value, local, best.source, True, best.written_offset)
    if not best.has_time:
        for other in ranked[1:]:
            if other.has_time and other.day == best.day:
                return DateCandidate(other.value, best.day, best.source, True)
    return best


# Offsets of the zones where nearly all news is published (Hawaii to eastern Australia): wider
# bounds let a wrong visible date move evening or morning stories to another day.
_EARLIEST_OFFSET, _LATEST_OFFSET = timedelta(hours=-10), timedelta(hours=10)


_SAME_INSTANT = timedelta(minutes=5)


def _local_day_from_page(best: DateCandidate, others: list[DateCandidate]) -> date | None:
    """Return the publisher-local day of an instant written in UTC, or None.

    First choice: another candidate for the same instant written with a non-zero UTC offset.
    CMSs often write `datePublished` in UTC while the page shows the publisher's local day: a
    story at 23:30 local in Rome is "22:30Z" the same day, but 02:00 local in Tokyo is the previous
    UTC day. A day-only candidate (visible date, URL) adjacent to the UTC day and reachable with a
    real UTC offset is the publisher's day.
    """
    for other in others:
        # The same instant written elsewhere with the publisher's own offset names its day.
        if (
            other.has_time
            and other.written_offset
            and abs(other.value - best.value) <= _SAME_INSTANT
        ):
            return other.day
    for other in others:
        if other.has_time or other.day == best.day:
            continue
        earliest = (best.value + _EARLIEST_OFFSET).date()
        latest = (best.value + _LATEST_OFFSET).date()
        if earliest <= other.day <= latest:
            return other.day
    return None


# Month names (and common abbreviations) of the languages most monitored, lower-case, without the
# trailing dot ("Jan.", "janv."). Genitive forms where a language writes dates with them.
_MONTH_WORDS = (
    "jan january januar jänner januari janvier enero gennaio janeiro ocak stycznia января janv"
    " ene gen",
    "feb february februar februari février fevrier febrero febbraio fevereiro şubat lutego"
    " февраля févr fév",
    "mar march märz maart mars marzo março mart marca марта mär",
    "apr april avril abril aprile nisan kwietnia апреля avr abr",
    "may mai mei mayo maggio maio mayıs maja мая mag",
    "jun june juni juin junio giugno junho haziran czerwca июня giu",
    "jul july juli juillet julio luglio julho temmuz lipca июля juil lug",
    "aug august augustus août aout agosto ağustos sierpnia августа ago",
    "sep sept september septembre septiembre settembre setembro eylül września сентября set",
    "oct october oktober octobre octubre ottobre outubro ekim października октября okt ott out",
    "nov november novembre noviembre novembro kasım listopada ноября",
    "dec december dezember décembre decembre diciembre dicembre dezembro aralık grudnia декабря"
    " déc dez dic",
)
_MONTH_NAMES: dict[str, int] = {
    name: number for number, words in enumerate(_MONTH_WORDS, start=1) for name in words.split()
}

_TIME_PART = (
    r"(?:[,\s]+(?:um|à|a las|alle|at|às|-|в)?\s*(?P<H>[0-2]?\d)[:.h](?P<M>[0-5]\d)"
    r"(?:\s*(?:uhr|h))?\s*(?P<ampm>[ap]\.?\s?m\b\.?)?"
    r"\s*(?P<tz>(?:gmt|utc)?\s*[+-]\d{1,2}(?::?\d{2})?|gmt|utc|z)?)?"
)
_TEXT_DATES = (
    # 2023-11-07 15:03:30, 2023/11/07
    re.compile(
        r"(?<!\d)(?P<y>(?:19|20)\d{2})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)" + _TIME_PART
    ),
    # 28.04.2023, 28. 4. 2023 (day first wherever dots are used)
    re.compile(
        r"(?<![\d.])(?P<d>\d{1,2})\.\s?(?P<m>\d{1,2})\.\s?(?P<y>(?:19|20)\d{2})(?!\d)" + _TIME_PART
    ),
    # 13 Oct 2020, 13. Oktober 2020, 5 de mayo de 2022, 29 июня 2020
    re.compile(
        r"(?<!\d)(?P<d>\d{1,2})(?:st|nd|rd|th|er|º)?\.?\s+(?:de\s+)?(?P<name>[^\W\d_]{3,})\.?,?"
        r"\s+(?:de\s+)?(?P<y>(?:19|20)\d{2})(?!\d)" + _TIME_PART,
        re.IGNORECASE,
    ),
    # October 13, 2020
    re.compile(
        r"(?<![^\W\d_])(?P<name>[^\W\d_]{3,})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+"
        r"(?P<y>(?:19|20)\d{2})(?!\d)" + _TIME_PART,
        re.IGNORECASE,
    ),
)
_ZONE_WORD = re.compile(r"^(?:gmt|utc)\s*", re.IGNORECASE)


def date_from_text(text: str, source: DateSource = DateSource.TEXT) -> DateCandidate | None:
    """Return the first date written in a short visible text ("13 Oct 2020 18:29", "28.04.2023").

    Understands ISO-like and day-first dotted numbers and day-month-year / month-day-year with
    month names in the major European languages and Russian; ambiguous slashed numbers
    ("04/05/2020") are not read. A time is kept when written; without a zone it is read as UTC
    with the written day kept (as `parse_datetime` does).
    """
    for pattern in _TEXT_DATES:
        for match in pattern.finditer(text):
            groups = match.groupdict()
            if groups.get("name") is not None:
                month = _MONTH_NAMES.get(groups["name"].lower())
            else:
                month = int(groups["m"])
            if month is None:
                continue
            try:
                day = date(int(groups["y"]), month, int(groups["d"]))
            except ValueError:
                continue
            if groups.get("H") is None:
                value = datetime(day.year, day.month, day.day, tzinfo=UTC)
                return DateCandidate(value, day, source, False)
            zone = _ZONE_WORD.sub("", groups.get("tz") or "")
            if zone and zone[0] in "+-" and len(zone) <= 3:
                zone = f"{zone[0]}{int(zone[1:]):02d}:00"
            hour = int(groups["H"]) % 12 if groups.get("ampm") else int(groups["H"])
            if (groups.get("ampm") or "").lower().startswith("p"):
                hour += 12
            stamp = f"{day.isoformat()}T{hour:02d}:{groups['M']}{zone.upper()}"
            return parse_datetime(stamp, source)
    return None
