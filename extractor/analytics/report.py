"""The report as one self-contained HTML page: inline CSS and inline SVG charts, no script and no
URL, so it opens offline and can be mailed as one file."""

from __future__ import annotations

import html
from collections.abc import Iterator

from extractor.analytics import charts
from extractor.analytics.stats import SMALL_GROUP, Counts, CrossTab, Rate, RateTable, Report, percent

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
section { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; margin-bottom: 2em; }
figure { margin: 0; } figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; max-width: 28em; }
tr.small td { color: #888; }
.note { color: #666; font-size: 12px; }
"""

CHARTS_ALWAYS = ("items_per_letter", "reviewer_titles", "checks_by_status")
"""Charts besides one per rate table (named by its dimension)."""


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(header: tuple[str, ...], rows: Iterator[tuple[tuple[object, ...], bool]]) -> str:
    head = "".join(f"<th>{_e(name)}</th>" for name in header)
    body = "".join(
        f"<tr{' class=small' if small else ''}>{''.join(f'<td>{_e(v)}</td>' for v in row)}</tr>"
        for row, small in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _rate_rows(table: RateTable) -> Iterator[tuple[tuple[object, ...], bool]]:
    for rate in table.rates:
        row = (rate.group, f"{rate.n}{'*' if rate.small else ''}", rate.overturned, rate.shown(),
               rate.shown_interval())  # fmt: skip
        yield row, rate.small


def _figure(name: str, document: str) -> str:
    return f'<figure id="chart-{_e(name)}" class="chart">{charts.inline(document)}</figure>'


def _rate_section(table: RateTable, overall: Rate) -> str:
    heading = f"<h3>Overturn rate by {_e(table.title)}</h3>"
    if not table.rates:
        return f"{heading}<p class=note>no items</p>"
    rows = _table((table.title, "items", "overturned", "rate", "95% CI"), _rate_rows(table))
    figure = _figure(table.name, charts.rate_chart(table, overall))
    return f"{heading}<section>{figure}{rows}</section>"


def _counts(counts: Counts, chart: bool = False) -> str:
    figure = ""
    if chart and counts.rows:
        labels, values = [row[0] for row in counts.rows], [int(str(row[1])) for row in counts.rows]
        drawn = charts.count_chart(counts.name, counts.title.capitalize(), labels, values, counts.header[1])
        figure = _figure(counts.name, drawn)
    rows = (
        _table(counts.header, ((row, False) for row in counts.rows))
        if counts.rows
        else "<p class=note>none</p>"
    )
    return f"<h3>{_e(counts.title.capitalize())}</h3><section>{figure}{rows}</section>"


def _crosstab(tab: CrossTab) -> str:
    def cell(rate: Rate | None) -> str:
        return (
            ""
            if rate is None
            else f"{percent(rate.rate)} ({rate.overturned}/{rate.n}{'*' if rate.small else ''})"
        )

    rows = (((row, *(cell(tab.cells.get((row, c))) for c in tab.columns)), False) for row in tab.rows)
    header = (f"{tab.rows_by} \\ {tab.columns_by}", *tab.columns)
    title = f"Overturn rate by {_e(tab.rows_by)} and {_e(tab.columns_by)}"
    return f"<h3>{title}</h3><section>{_table(header, rows)}</section>"


def _reviewed(report: Report) -> str:
    """Whether the numbers count the reviewers' corrections."""
    reviews = report.reviews
    if reviews.log is None:
        return ""
    if reviews.applied:
        return f", with the {reviews.total} corrections of {reviews.log.name} applied"
    return f", without the corrections of {reviews.log.name} (--no-reviews)"


def render(report: Report) -> str:
    """The whole page."""
    parts = [
        f"<h1>IMR outcomes: {_e(report.title)}</h1>",
        f"<p>Overturned: <b>{_e(report.overall.describe())}</b>. "
        f"From <code>{_e(report.source)}</code>{_e(_reviewed(report))}.</p>",
        f"<p class=note>Rates are of disputed items, with 95% Wilson score intervals; * and pale: fewer "
        f"than {SMALL_GROUP} items. An item with several values (reviewer specialties, cited sources) "
        "counts in each.</p>",
    ]
    if report.crosstab:
        parts.append(_crosstab(report.crosstab))
    if report.by:
        parts.append(_rate_section(report.by, report.overall))
    parts += ["<h2>Overturn rates</h2>", *(_rate_section(t, report.overall) for t in report.rates)]
    parts.append("<h2>Items</h2>")
    if report.kinds:
        parts.append(_rate_section(report.kinds, report.overall))
    if report.drug_classes:
        parts.append(_counts(report.drug_classes))
    if report.items_per_letter:
        parts.append(_counts(report.items_per_letter, chart=True))
    parts.append("<h2>Guidelines cited</h2>")
    parts += [_counts(c, chart=c.name in CHARTS_ALWAYS) for c in report.citations]
    parts.append("<h2>Data quality: how far to trust these numbers</h2>")
    parts += [_counts(c, chart=c.name in CHARTS_ALWAYS) for c in report.quality]
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>IMR outcomes: {_e(report.title)}</title>"
        f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
