"""`mediamon report`: a static, self-contained HTML report of a publication window, from the store.

Same views as the Kibana dashboards, for readers without Kibana: volume over time per outlet,
topic share per outlet, language mix, story propagation timelines (origin, then copies with their
lag) and a who-copies-whom matrix. Charts are inline SVG built here; the page loads nothing from
the network and its only script reports rendering errors into the page itself.
"""

from __future__ import annotations

import html
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from connectors.report_queries import (
    ReportArticle,
    ReportEdit,
    ReportMember,
    load_report_articles,
    load_report_edits,
    load_report_story_members,
)
from connectors.store import Store
from mediamon.lags import format_lag
from transforms.versions import VersionChange

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
OTHER = "other"


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """The window [start, end) (None = open) and an optional topic filter."""

    start: datetime | None = None
    end: datetime | None = None
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """What the written report covers."""

    articles: int
    outlets: int
    stories: int
    path: Path


@dataclass(frozen=True, slots=True)
class StoryTimeline:
    """One story: origin outlet and time, then each copy with its lag in seconds."""

    story_id: str
    title: str
    origin_outlet: str
    origin_at: datetime | None
    copies: tuple[tuple[str, str, int | None], ...]  # (outlet, relation, lag seconds)

    @property
    def outlet_count(self) -> int:
        """Distinct outlets, origin included."""
        return len({self.origin_outlet} | {outlet for outlet, _, _ in self.copies})


# --- pure aggregations ---------------------------------------------------------------------


def period_of(articles: Sequence[ReportArticle]) -> str:
    """Bucket size for the volume chart: day up to 62 days, week up to 2 years, else month."""
    if not articles:
        return "day"
    span = articles[-1].published_at - articles[0].published_at
    if span <= timedelta(days=62):
        return "day"
    return "week" if span <= timedelta(days=730) else "month"


def bucket_key(when: datetime, period: str) -> str:
    """The label of the bucket a time falls in (ISO day, Monday of the week, or month)."""
    if period == "day":
        return when.date().isoformat()
    if period == "week":
        return (when.date() - timedelta(days=when.weekday())).isoformat()
    return f"{when.year:04d}-{when.month:02d}"


def top_keys(counts: Counter[str], limit: int) -> list[str]:
    """The `limit` most frequent keys, ties broken by name."""
    return [key for key, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def volume_by_period(
    articles: Sequence[ReportArticle], period: str, limit: int = 8
) -> tuple[list[str], list[str], dict[tuple[str, str], int]]:
    """(periods, outlets incl. `other`, {(period, outlet): count}) for the stacked volume chart."""
    outlets = top_keys(Counter(a.outlet for a in articles), limit)
    chosen = set(outlets)
    counts: Counter[tuple[str, str]] = Counter()
    for article in articles:
        outlet = article.outlet if article.outlet in chosen else OTHER
        counts[(bucket_key(article.published_at, period), outlet)] += 1
    if any(outlet == OTHER for _, outlet in counts):
        outlets.append(OTHER)
    return periods_between(articles, period), outlets, dict(counts)


def periods_between(articles: Sequence[ReportArticle], period: str) -> list[str]:
    """Every bucket label from the first to the last article, empty ones included."""
    if not articles:
        return []
    first, last = articles[0].published_at, articles[-1].published_at
    out: list[str] = []
    if period == "month":
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out
    step = timedelta(days=1 if period == "day" else 7)
    day = datetime.fromisoformat(bucket_key(first, period))
    end = datetime.fromisoformat(bucket_key(last, period))
    while day <= end:
        out.append(day.date().isoformat())
        day += step
    return out


def topic_share(
    articles: Sequence[ReportArticle], outlet_limit: int = 12, topic_limit: int = 8
) -> tuple[list[str], list[str], dict[tuple[str, str], int]]:
    """(outlets, topics incl. `other`, {(outlet, topic): articles}) over top-level topics."""
    top_level: Counter[str] = Counter()
    for article in articles:
        for topic in {t.split("/")[0] for t in article.topics}:
            top_level[topic] += 1
    topics = top_keys(top_level, topic_limit)
    chosen = set(topics)
    tagged = [a for a in articles if a.topics]
    outlets = top_keys(Counter(a.outlet for a in tagged), outlet_limit)
    counts: Counter[tuple[str, str]] = Counter()
    for article in tagged:
        if article.outlet not in outlets:
            continue
        for topic in sorted({t.split("/")[0] for t in article.topics}):
            counts[(article.outlet, topic if topic in chosen else OTHER)] += 1
    if any(topic == OTHER for _, topic in counts):
        topics.append(OTHER)
    return outlets, topics, dict(counts)


def story_timelines(members: Sequence[ReportMember], limit: int = 12) -> list[StoryTimeline]:
    """The stories that reached the most outlets (then most members), origin first."""
    by_story: dict[str, list[ReportMember]] = defaultdict(list)
    for member in members:
        by_story[member.story_id].append(member)
    out = []
    for story_id, items in by_story.items():
        origin = next((m for m in items if m.article_id == m.origin_article_id), items[0])
        copies = []
        for member in items:
            if member is origin:
                continue
            lag = None
            if member.published_at is not None and origin.published_at is not None:
                lag = max(0, int((member.published_at - origin.published_at).total_seconds()))
            copies.append((member.outlet, member.relation, lag))
        copies.sort(key=lambda c: (c[2] is None, c[2] or 0, c[0]))
        out.append(
            StoryTimeline(
                story_id,
                origin.title or story_id,
                origin.outlet,
                origin.published_at,
                tuple(copies),
            )
        )
    out.sort(key=lambda s: (-s.outlet_count, -len(s.copies), s.story_id))
    return out[:limit]


def copy_matrix(
    members: Sequence[ReportMember],
) -> tuple[list[str], list[str], dict[tuple[str, str], int]]:
    """(origin outlets, copying outlets, {(origin, copier): copies}) over multi-member stories."""
    origin_of: dict[str, str] = {}
    for member in members:
        if member.article_id == member.origin_article_id:
            origin_of[member.story_id] = member.outlet
    counts: Counter[tuple[str, str]] = Counter()
    for member in members:
        if member.article_id != member.origin_article_id and member.story_id in origin_of:
            counts[(origin_of[member.story_id], member.outlet)] += 1
    origins = sorted({o for o, _ in counts})
    copiers = sorted({c for _, c in counts})
    return origins, copiers, dict(counts)


def _short_lag(seconds: float | None) -> str:
    return format_lag(seconds, style="short")


# --- SVG rendering ---------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _color(index: int, key: str) -> str:
    return "#bab0ac" if key == OTHER else PALETTE[index % len(PALETTE)]


def _legend(keys: Sequence[str]) -> str:
    items = "".join(
        f'<span class="key"><i style="background:{_color(i, k)}"></i>{_e(k)}</span>'
        for i, k in enumerate(keys)
    )
    return f'<div class="legend">{items}</div>'


def svg_stacked_columns(
    periods: Sequence[str], series: Sequence[str], counts: dict[tuple[str, str], int]
) -> str:
    """Stacked columns: one per period, one colour per series."""
    width, height, left, bottom = 900, 260, 40, 40
    totals = [sum(counts.get((p, s), 0) for s in series) for p in periods]
    peak = max(totals, default=0) or 1
    step = (width - left - 10) / max(len(periods), 1)
    bar = max(1.0, step * 0.8)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img">']
    parts.append(
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" '
        f'y2="{height - bottom}" stroke="#333"/>'
    )
    parts.append(f'<text x="{left - 4}" y="14" text-anchor="end" class="tick">{peak}</text>')
    scale = (height - bottom - 20) / peak
    label_every = max(1, math.ceil(len(periods) / 12))
    for i, period in enumerate(periods):
        x = left + i * step
        y = float(height - bottom)
        for j, name in enumerate(series):
            value = counts.get((period, name), 0)
            if not value:
                continue
            h = value * scale
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{_color(j, name)}"><title>{_e(period)} {_e(name)}: {value}'
                f"</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 14}" class="tick">{_e(period)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts) + _legend(series)


def svg_share_bars(
    rows: Sequence[str], series: Sequence[str], counts: dict[tuple[str, str], int]
) -> str:
    """100 % stacked horizontal bars: one per row, segments by series."""
    left, width, row_h = 170, 900, 22
    height = row_h * len(rows) + 10
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img">']
    for i, row in enumerate(rows):
        total = sum(counts.get((row, s), 0) for s in series)
        y = 5 + i * row_h
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" class="label">{_e(row)}</text>'
        )
        x = float(left)
        for j, name in enumerate(series):
            value = counts.get((row, name), 0)
            if not value or not total:
                continue
            w = (width - left - 10) * value / total
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 4}" '
                f'fill="{_color(j, name)}"><title>{_e(row)} {_e(name)}: {value} '
                f"({100 * value / total:.0f} %)</title></rect>"
            )
            x += w
    parts.append("</svg>")
    return "".join(parts) + _legend(series)


def svg_bars(counts: dict[str, int]) -> str:
    """Horizontal bars of counts, largest first."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    left, width, row_h = 120, 900, 22
    peak = max(counts.values(), default=0) or 1
    parts = [f'<svg class="chart" viewBox="0 0 {width} {row_h * len(items) + 10}" role="img">']
    total = sum(counts.values()) or 1
    for i, (key, value) in enumerate(items):
        y = 5 + i * row_h
        w = (width - left - 80) * value / peak
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" class="label">'
            f'{_e(key)}</text><rect x="{left}" y="{y}" width="{w:.1f}" '
            f'height="{row_h - 4}" fill="{_color(i, key)}"/><text x="{left + w + 4:.1f}" '
            f'y="{y + 14}" class="label">{value} ({100 * value / total:.0f} %)</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_timelines(stories: Sequence[StoryTimeline]) -> str:
    """One row per story on a shared log-time axis: the origin at 0, each copy at its lag."""
    left, width, row_h = 260, 900, 34
    lags = [lag for s in stories for _, _, lag in s.copies if lag is not None]
    top = math.log10(1 + max(lags, default=60) / 60) or 1.0

    def x_of(lag: int) -> float:
        return left + (width - left - 20) * math.log10(1 + lag / 60) / top

    height = row_h * len(stories) + 30
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img">']
    for minutes in (1, 10, 60, 600, 1440, 14400):
        if math.log10(1 + minutes) <= top:
            x = x_of(minutes * 60)
            parts.append(
                f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" '
                f'stroke="#ddd"/><text x="{x:.1f}" y="{height - 6}" class="tick" '
                f'text-anchor="middle">{_e(format_lag(minutes * 60, style="short"))}</text>'
            )
    for i, story in enumerate(stories):
        y = 16 + i * row_h
        title = story.title if len(story.title) <= 40 else story.title[:39] + "…"
        parts.append(
            f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" class="label">'
            f"{_e(title)}<title>{_e(story.title)}</title></text>"
        )
        known = [lag for _, _, lag in story.copies if lag is not None]
        end = x_of(max(known)) if known else left
        parts.append(
            f'<line x1="{left}" y1="{y}" x2="{end:.1f}" y2="{y}" stroke="#999" stroke-width="2"/>'
        )
        parts.append(
            f'<circle cx="{left}" cy="{y}" r="7" fill="#e15759"><title>origin: '
            f"{_e(story.origin_outlet)}</title></circle>"
        )
        for outlet, relation, lag in story.copies:
            if lag is None:
                continue
            parts.append(
                f'<circle cx="{x_of(lag):.1f}" cy="{y}" r="5" fill="#4e79a7" '
                f'fill-opacity="0.8"><title>{_e(outlet)} ({_e(relation)}) '
                f"+{_e(format_lag(lag, style='short'))}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def svg_matrix(
    origins: Sequence[str], copiers: Sequence[str], counts: dict[tuple[str, str], int]
) -> str:
    """Who copies whom: rows are origin outlets, columns copying outlets, shade = copies."""
    left, top, cell = 170, 150, 26
    width = left + cell * len(copiers) + 10
    height = top + cell * len(origins) + 10
    peak = max(counts.values(), default=0) or 1
    parts = [
        f'<svg class="chart matrix" viewBox="0 0 {width} {height}" '
        f'style="max-width:{width}px" role="img">'
    ]
    for j, copier in enumerate(copiers):
        x = left + j * cell + cell / 2
        parts.append(
            f'<text transform="translate({x:.1f},{top - 6}) rotate(-60)" '
            f'class="label">{_e(copier)}</text>'
        )
    for i, origin in enumerate(origins):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end" '
            f'class="label">{_e(origin)}</text>'
        )
        for j, copier in enumerate(copiers):
            value = counts.get((origin, copier), 0)
            shade = 0.08 + 0.92 * value / peak if value else 0.0
            x = left + j * cell
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="#4e79a7" fill-opacity="{shade:.2f}" stroke="#eee">'
                f"<title>{_e(copier)} copied {_e(origin)}: {value}</title></rect>"
            )
            if value:
                parts.append(
                    f'<text x="{x + cell / 2 - 1:.1f}" y="{y + cell / 2 + 4:.1f}" '
                    f'text-anchor="middle" class="cell">{value}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:980px}
h1{font-size:22px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ddd}
.chart{width:100%;height:auto;display:block}.tick{font-size:10px;fill:#555}
.label{font-size:11px;fill:#222}.cell{font-size:10px;fill:#000}
.legend{margin:6px 0 0 0;font-size:12px}.key{margin-right:12px;white-space:nowrap}
.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
table{border-collapse:collapse;font-size:12px}td,th{padding:2px 8px;border-bottom:1px solid #eee;
text-align:left}.empty{color:#888}#report-errors:empty{display:none}#report-errors{color:#b00}
"""

# The page's only script: any error while rendering is written into the page, where a reader (and
# the headless-browser test) sees it; the count of drawn charts is written beside it.
_SCRIPT = """
window.addEventListener('error', function (event) {
  var box = document.getElementById('report-errors');
  box.textContent += 'error: ' + event.message + '\\n';
});
document.addEventListener('DOMContentLoaded', function () {
  var drawn = document.querySelectorAll('svg.chart *').length;
  document.body.setAttribute('data-drawn-elements', String(drawn));
});
"""


def _section(title: str, body: str, empty: bool) -> str:
    content = '<p class="empty">No data in this window.</p>' if empty else body
    return f"<section><h2>{_e(title)}</h2>{content}</section>"


def edits_table(edits: Sequence[ReportEdit], limit: int = 50) -> str:
    """The "edited after publication" table: outlet, title, versions, last edit and what changed."""
    rows = []
    for edit in edits[:limit]:
        changed = VersionChange(**edit.last_changes).describe() if edit.last_changes else ""
        if edit.removed_at is not None:
            changed = f"removed {edit.removed_at:%Y-%m-%d %H:%M}" + (
                f"; {changed}" if changed else ""
            )
        rows.append(
            f"<tr><td>{_e(edit.outlet)}</td><td>{_e(edit.title or '(no title)')}</td>"
            f"<td>{_e(f'{edit.published_at:%Y-%m-%d %H:%M}' if edit.published_at else '')}</td>"
            f"<td>{edit.version_count}</td>"
            f"<td>{_e(f'{edit.last_edited_at:%Y-%m-%d %H:%M}' if edit.last_edited_at else '')}</td>"
            f"<td>{_e(changed)}</td><td><code>{_e(edit.article_id)}</code></td></tr>"
        )
    more = f"<p>{len(edits) - limit} more not shown.</p>" if len(edits) > limit else ""
    return (
        '<table class="edits"><tr><th>Outlet</th><th>Title</th><th>Published</th>'
        "<th>Versions</th><th>Last edit seen</th><th>What changed</th><th>Article</th></tr>"
        + "".join(rows)
        + "</table>"
        + more
    )


def render_report(
    articles: Sequence[ReportArticle],
    members: Sequence[ReportMember],
    options: ReportOptions,
    edits: Sequence[ReportEdit] = (),
) -> str:
    """Return the whole HTML document (pure: data in, text out)."""
    period = period_of(articles)
    periods, outlets, volume = volume_by_period(articles, period)
    share_rows, share_topics, share = topic_share(articles)
    languages = Counter(a.language or "und" for a in articles)
    stories = story_timelines(members)
    origins, copiers, matrix = copy_matrix(members)
    window = (
        f"{options.start.date() if options.start else 'beginning'} to "
        f"{(options.end - timedelta(seconds=1)).date() if options.end else 'now'}"
    )
    topic = f", topic <b>{_e(options.topic)}</b>" if options.topic else ""
    story_rows = "".join(
        f"<tr><td>{_e(s.title)}</td><td>{_e(s.origin_outlet)}</td><td>{s.outlet_count}</td>"
        f"<td>{_e(', '.join(f'{o} +{_short_lag(lag)}' for o, _, lag in s.copies))}</td></tr>"
        for s in stories
    )
    sections = [
        _section(
            f"Articles per outlet per {period}",
            svg_stacked_columns(periods, outlets, volume),
            not articles,
        ),
        _section(
            "Topic share per outlet (top-level topics, tagged articles)",
            svg_share_bars(share_rows, share_topics, share),
            not share,
        ),
        _section("Language mix", svg_bars(dict(languages)), not articles),
        _section(
            "Story propagation: origin (red), then copies with their lag (log scale)",
            svg_timelines(stories) + "<table><tr><th>Story</th><th>First</th>"
            "<th>Outlets</th><th>Copies (lag)</th></tr>" + story_rows + "</table>",
            not stories,
        ),
        _section(
            "Who copies whom (rows: origin outlet; columns: copying outlet)",
            svg_matrix(origins, copiers, matrix),
            not matrix,
        ),
        _section(
            "Edited after publication (see `mediamon article ID --versions`)",
            edits_table(edits),
            not edits,
        ),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        f"<title>mediamon report {_e(window)}</title><style>{_STYLE}</style>"
        f"<script>{_SCRIPT}</script></head><body>"
        f"<h1>mediamon report</h1><p>Publication window {_e(window)}{topic}: "
        f"{len(articles)} articles from {len({a.outlet for a in articles})} outlets; "
        f"{len({m.story_id for m in members})} stories carried by more than one article.</p>"
        '<pre id="report-errors"></pre>' + "".join(sections) + "</body></html>\n"
    )


def write_report(store: Store, out: Path, options: ReportOptions) -> ReportSummary:
    """Query the store for the window, render the report and write it to `out`."""
    articles = load_report_articles(store.engine, options.start, options.end, options.topic)
    members = load_report_story_members(store.engine, options.start, options.end, options.topic)
    edits = load_report_edits(store.engine, options.start, options.end, options.topic)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(articles, members, options, edits), encoding="utf-8")
    return ReportSummary(
        len(articles), len({a.outlet for a in articles}), len({m.story_id for m in members}), out
    )
