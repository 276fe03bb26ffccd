"""Charts as SVG text, drawn with matplotlib's SVG backend: no browser script, no network.

Text stays text (``svg.fonttype: none``) so the charts are small and searchable, and element ids
are salted with the chart's name, so that several charts share a page and a rerun gives the
same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from extractor.analytics.stats import SMALL_GROUP, RateTable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_BARS = 20
"""Longer tables are cut to their largest groups in the chart (the table beside has them all)."""
COLOUR, SMALL_COLOUR = "#3b6ea5", "#b9c9dc"
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


def _figure(bars: int) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(7.0, 0.9 + 0.32 * max(bars, 1)), layout="constrained")


def svg(figure: Figure, name: str) -> str:
    """The figure as a standalone SVG document."""
    import matplotlib

    out = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name, "font.size": 9}):
        figure.savefig(out, format="svg", metadata=_NO_METADATA)
    return out.getvalue()


def inline(document: str) -> str:
    """An SVG document as an element for an HTML page: no XML prolog, no DOCTYPE, no namespace
    declarations (HTML puts <svg> in its namespace itself), so the page names no URL at all."""
    element = document[document.index("<svg") :]
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", element)


def rate_chart(table: RateTable) -> str:
    """Overturn rate per group as bars with their 95% Wilson interval, ``overturned/items`` beside,
    small groups pale."""
    rates = (
        table.rates if len(table.rates) <= MAX_BARS else sorted(table.rates, key=lambda r: -r.n)[:MAX_BARS]
    )
    figure = _figure(len(rates))
    axes = figure.subplots()
    positions = range(len(rates))
    values = [100 * r.rate for r in rates]
    low = [max(0.0, 100 * (r.rate - r.interval[0])) for r in rates]  # never below 0 by rounding
    high = [max(0.0, 100 * (r.interval[1] - r.rate)) for r in rates]
    axes.barh(
        positions,
        values,
        color=[SMALL_COLOUR if r.small else COLOUR for r in rates],
        xerr=[low, high],
        error_kw={"ecolor": "#444444", "capsize": 2, "linewidth": 0.8},
    )
    axes.set_yticks(list(positions), [_short(r.group) for r in rates])
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel(f"% overturned, 95% Wilson interval (pale: fewer than {SMALL_GROUP} items)")
    axes.set_title(f"Overturn rate by {table.title}", loc="left")
    for position, rate in zip(positions, rates, strict=True):
        axes.annotate(
            f"{rate.overturned}/{rate.n}",
            (100, position),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            annotation_clip=False,
        )
    axes.spines[["top", "right"]].set_visible(False)
    return svg(figure, table.name)


def count_chart(name: str, title: str, labels: Sequence[object], values: Sequence[int]) -> str:
    """Plain counts as horizontal bars, the count at each bar's end."""
    figure = _figure(len(labels))
    axes = figure.subplots()
    positions = range(len(labels))
    bars = axes.barh(positions, values, color=COLOUR)
    axes.bar_label(bars, padding=3, fontsize=8)
    axes.set_yticks(list(positions), [_short(str(label)) for label in labels])
    axes.invert_yaxis()
    axes.set_title(title, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    return svg(figure, name)


def _short(label: str, width: int = 48) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
