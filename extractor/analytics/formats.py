"""The report for scripts: one JSON document, or the overturn rates as one CSV, a row per group.

A rate of no items is null in JSON and an empty cell in CSV, never 0: there is no rate to give.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator
from typing import IO, Any

from extractor.analytics.stats import Counts, CrossTab, Rate, RateTable, Report

RATE_COLUMNS = ("table", "group", "items", "overturned", "rate", "ci_low", "ci_high", "small")


def _rate(rate: Rate) -> dict[str, Any]:
    low, high = rate.interval if rate.n else (None, None)
    return {
        "group": rate.group,
        "items": rate.n,
        "overturned": rate.overturned,
        "rate": rate.rate if rate.n else None,
        "ci_low": low,
        "ci_high": high,
        "small": rate.small,
    }


def _table(table: RateTable) -> dict[str, Any]:
    return {"name": table.name, "title": table.title, "rates": [_rate(rate) for rate in table.rates]}


def _crosstab(tab: CrossTab) -> dict[str, Any]:
    cells = [{"row": a, "column": b, **_rate(rate)} for (a, b), rate in tab.cells.items()]
    return {"rows_by": tab.rows_by, "columns_by": tab.columns_by, "cells": cells}


def _counts(counts: Counts) -> dict[str, Any]:
    return {"name": counts.name, "title": counts.title, "header": counts.header, "rows": counts.rows}


def as_json(report: Report) -> dict[str, Any]:
    """The whole report as JSON values (with ``--by``, its table too)."""
    reviews = report.reviews
    return {
        "title": report.title,
        "source": report.source,
        "where": report.where,
        "letters": report.letters,
        "decided": dict(zip(("first", "last"), report.decided, strict=True)) if report.decided else None,
        "overall": _rate(report.overall),
        "by": _table(report.by) if report.by else None,
        "crosstab": _crosstab(report.crosstab) if report.crosstab else None,
        "rates": [_table(table) for table in report.rates],
        "kinds": _table(report.kinds) if report.kinds else None,
        "counts": [_counts(part) for part in _count_tables(report)],
        "reviews": {
            **{f.name: getattr(reviews, f.name) for f in dataclasses.fields(reviews)},
            "log": str(reviews.log) if reviews.log else None,
        },
    }


def _count_tables(report: Report) -> list[Counts]:
    return [part for part in (report.items_per_letter, *report.citations, *report.quality) if part]


def _tables(report: Report) -> Iterator[tuple[str, list[Rate]]]:
    """The rate tables a CSV holds: those ``--by`` asked for, else every one."""
    if (tab := report.crosstab) is not None:
        yield f"{tab.rows_by} x {tab.columns_by}", list(tab.cells.values())
    elif report.by:
        yield report.by.name, report.by.rates
    else:
        yield "overall", [report.overall]
        for table in (*report.rates, report.kinds):
            if table is not None:
                yield table.name, table.rates


def write_csv(report: Report, stream: IO[str]) -> None:
    """The overturn rates, one row per group of each table (``RATE_COLUMNS``)."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(RATE_COLUMNS)
    for name, rates in _tables(report):
        for rate in rates:
            row = _rate(rate)
            writer.writerow([name, *("" if row[c] is None else row[c] for c in RATE_COLUMNS[1:])])
