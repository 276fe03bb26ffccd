"""The report as rich tables in the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from extractor.analytics.stats import SMALL_GROUP, Counts, CrossTab, RateTable, Report, percent

SMALL_NOTE = f"* fewer than {SMALL_GROUP} items: read the interval, not the rate"


def rate_table(table: RateTable) -> Table:
    small = any(rate.small for rate in table.rates)
    view = Table(
        title=f"overturn rate by {table.title}", title_justify="left", caption=SMALL_NOTE if small else None
    )
    for name in (table.title, "items", "overturned", "rate", "95% CI"):
        view.add_column(name, justify="left" if name == table.title else "right")
    for rate in table.rates:
        view.add_row(
            rate.group,
            f"{rate.n}{'*' if rate.small else ''}",
            str(rate.overturned),
            rate.shown(),
            rate.shown_interval(),
            style="dim" if rate.small else None,
        )
    return view


def counts_table(counts: Counts) -> Table:
    view = Table(title=counts.title, title_justify="left")
    for index, name in enumerate(counts.header):
        view.add_column(name, justify="left" if index == 0 else "right", overflow="fold")
    for row in counts.rows:
        view.add_row(*(str(value) for value in row))
    return view


def crosstab_table(tab: CrossTab) -> Table:
    view = Table(
        title=f"overturn rate by {tab.rows_by} and {tab.columns_by}: rate (overturned/items)",
        title_justify="left",
        caption=SMALL_NOTE if any(rate.small for rate in tab.cells.values()) else None,
    )
    view.add_column(f"{tab.rows_by} \\ {tab.columns_by}")
    for column in tab.columns:
        view.add_column(column, justify="right")
    for row in tab.rows:
        cells = (tab.cells.get((row, column)) for column in tab.columns)
        view.add_row(
            row,
            *(
                f"{percent(c.rate)} ({c.overturned}/{c.n}{'*' if c.small else ''})" if c else ""
                for c in cells
            ),
        )
    return view


def _part(part: RateTable | Counts | CrossTab) -> Table | str:
    """A table, or one line for a table that would be empty."""
    if isinstance(part, CrossTab):
        return (
            crosstab_table(part)
            if part.cells
            else f"overturn rate by {part.rows_by} and {part.columns_by}: no items"
        )
    if isinstance(part, RateTable):
        return rate_table(part) if part.rates else f"overturn rate by {part.title}: no items"
    return counts_table(part) if part.rows else f"{part.title}: none"


def render(report: Report, console: Console) -> None:
    """The report; with ``--by``, only the overall line and the table asked for."""
    console.print(f"[bold]{escape(report.title)}[/bold] ({escape(report.source)})")
    console.print(f"overturned: {report.overall.describe()}")
    if report.by or report.crosstab:
        console.print(_part(report.by or report.crosstab))  # type: ignore[arg-type]
        if report.by and report.by.name == "drug_class" and report.drug_classes:
            console.print(_part(report.drug_classes))
        return
    parts = (*report.rates, report.kinds, report.drug_classes, report.items_per_letter)
    for part in (*parts, *report.citations, *report.quality):
        if part is not None:
            console.print(_part(part))
