"""Charts as SVG text, drawn with matplotlib's SVG backend: no browser script, no network.

Text stays text (``svg.fonttype: none``) so the charts are small and searchable, and element ids
are salted with the chart's name, so that several charts share a page and a rerun gives the
same bytes. Math text is off for every text drawn (``text.parse_math``, TeX too): labels are the
letters' own words, and "$50 monthly, #60 $300" is not a formula (mathtext failed on it).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from extractor.analytics.stats import SMALL_GROUP, Rate, RateTable

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_BARS = 20
"""Longer tables are cut to their largest groups in the chart (the table beside has them all)."""
COLOUR, SMALL_COLOUR, LINE_COLOUR = "#3b6ea5", "#b9c9dc", "#b03a2e"
WIDTH = 7.0
"""Inches; the height grows with the bars."""
_LABEL_CHAR = 0.065
"""Inches per character of a bar's label at 9 pt, for the left margin."""
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


@contextlib.contextmanager
def _style(name: str) -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": name,
            "font.size": 9,
            "text.parse_math": False,
            "text.usetex": False,
        }
    ):
        yield


def _bars(labels: Sequence[str]) -> tuple[Figure, Axes]:
    """A figure sized to its bars with margins set from its labels: a layout engine would cost a
    second drawing pass, which is most of the time a chart takes."""
    from matplotlib.figure import Figure

    height = 0.95 + 0.3 * max(len(labels), 1)
    figure = Figure(figsize=(WIDTH, height))
    left = 0.2 + _LABEL_CHAR * max((len(label) for label in labels), default=4)
    figure.subplots_adjust(
        left=left / WIDTH, right=1 - 0.6 / WIDTH, top=1 - 0.35 / height, bottom=0.55 / height
    )
    axes = figure.subplots()
    axes.set_yticks(range(len(labels)), labels)
    axes.invert_yaxis()
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _svg(figure: Figure) -> str:
    """The figure as a standalone SVG document."""
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata=_NO_METADATA)
    return out.getvalue()


def inline(document: str) -> str:
    """An SVG document as an element for an HTML page: no XML prolog, no DOCTYPE, no namespace
    declarations (HTML puts <svg> in its namespace itself), so the page names no URL at all."""
    element = document[document.index("<svg") :]
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", element)


def rate_chart(table: RateTable, overall: Rate | None = None) -> str:
    """Overturn rate per group as bars with their 95% Wilson interval, ``overturned/items`` beside,
    small groups pale, and the rate of all items as a dashed line to read each bar against.
    Groups without items have no rate, and no bar."""
    rates = [rate for rate in table.rates if rate.n]
    if len(rates) > MAX_BARS:
        rates = sorted(rates, key=lambda r: -r.n)[:MAX_BARS]
    with _style(table.name):
        figure, axes = _bars([_short(r.group) for r in rates])
        low = [max(0.0, 100 * (r.rate - r.interval[0])) for r in rates]  # never below 0 by rounding
        high = [max(0.0, 100 * (r.interval[1] - r.rate)) for r in rates]
        axes.barh(
            range(len(rates)),
            [100 * r.rate for r in rates],
            color=[SMALL_COLOUR if r.small else COLOUR for r in rates],
            xerr=[low, high],
            error_kw={"ecolor": "#444444", "capsize": 2, "linewidth": 0.8},
        )
        axes.set_xlim(0, 100)
        line = ""
        if overall is not None and overall.n:
            axes.axvline(100 * overall.rate, color=LINE_COLOUR, linestyle="--", linewidth=1)
            line = f"; dashed: all items, {overall.shown()}"
        axes.set_xlabel(f"% overturned, 95% Wilson interval{line} (pale: fewer than {SMALL_GROUP} items)")
        axes.set_title(f"Overturn rate by {table.title}", loc="left")
        for position, rate in enumerate(rates):
            axes.annotate(
                f"{rate.overturned}/{rate.n}",
                (100, position),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                annotation_clip=False,
            )
        return _svg(figure)


def count_chart(
    name: str, title: str, labels: Sequence[object], values: Sequence[int], unit: str = "count"
) -> str:
    """Plain counts as horizontal bars, the count at each bar's end, on an axis of whole numbers
    named by what is counted (never a 0-1 axis that reads as a rate)."""
    from matplotlib.ticker import MaxNLocator

    with _style(name):
        figure, axes = _bars([_short(str(label)) for label in labels])
        axes.bar_label(axes.barh(range(len(labels)), values, color=COLOUR), padding=3, fontsize=8)
        axes.set_xlim(0, max(max(values, default=0), 1) * 1.1)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(unit)
        axes.set_title(title, loc="left")
        return _svg(figure)


def _short(label: str, width: int = 40) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
