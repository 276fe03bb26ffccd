"""Dates as letters write them: 11/09/2016, 6/25/13, 10-13-16, September 15, 2014."""

from __future__ import annotations

import datetime as dt
import re

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))

NUMERIC_DATE = r"\b\d{1,2}\s?[/-]\s?\d{1,2}\s?[/-]\s?(?:\d{4}|\d{2})\b"
WORDED_DATE = rf"\b(?:{_MONTH_NAMES})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"
DATE = rf"(?:{NUMERIC_DATE}|{WORDED_DATE})"
"""A regex fragment (no groups) matching one date in either form."""

_NUMERIC = re.compile(r"(\d{1,2})\s?[/-]\s?(\d{1,2})\s?[/-]\s?(\d{4}|\d{2})")
_WORDED = re.compile(rf"({_MONTH_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})", re.I)


def expand_year(two_digits: int, month: int, day: int, reference: dt.date) -> int:
    """The century that puts the date on or before ``reference`` (CONTRACT.md)."""
    century = reference.year // 100 * 100
    year = century + two_digits
    try:
        candidate = dt.date(year, month, day)
    except ValueError:
        candidate = dt.date(year, month, 1)
    return year - 100 if candidate > reference else year


def parse_date(text: str, reference: dt.date | None = None) -> dt.date | None:
    """The first date in ``text``, or None; two-digit years expand against ``reference``."""
    reference = reference or dt.date.today()
    numeric = _NUMERIC.search(text)
    worded = _WORDED.search(text)
    if numeric and (not worded or numeric.start() < worded.start()):
        month, day, year = (int(group) for group in numeric.groups())
        if len(numeric.group(3)) == 2:
            year = expand_year(year, month, day, reference)
    elif worded:
        month = _MONTHS[worded.group(1).lower()]
        day, year = int(worded.group(2)), int(worded.group(3))
    else:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
