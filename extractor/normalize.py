"""Values as letters write them, in the record's forms: dates, USPS state codes, guideline
pages, wrapped lines.

Both passes read values through these: the rules pass from the letter, the LLM pass from the
model's copy of it, so a date or a state is one value whichever pass found it.
"""

from __future__ import annotations

import datetime as dt
import re

from extractor.schemas import Span

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


def one_line(text: str) -> str:
    """Join wrapped lines with one space; a line broken after a hyphen or before ")" joins tight."""
    return " ".join(re.sub(r"(?<=-)\n|\n(?=\))", "", text).split())


STATES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "district of columbia": "DC",
    "florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID", "illinois": "IL",
    "indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY", "louisiana": "LA",
    "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI", "minnesota": "MN",
    "mississippi": "MS", "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV",
    "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY",
    "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR",
    "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC", "south dakota": "SD",
    "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA",
    "washington": "WA", "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
    "puerto rico": "PR", "guam": "GU", "virgin islands": "VI",
}  # fmt: skip
_CODES = set(STATES.values())
# Longest names first so "West Virginia" is not read as "Virginia".
_STATE = re.compile(r"\b(?:" + "|".join(sorted(STATES, key=len, reverse=True)) + r"|[A-Z]{2})\b", re.I)


def state_codes(text: str) -> list[tuple[str, Span]]:
    """USPS codes for the states named in ``text``, in order, with their spans in it."""
    found = []
    for match in _STATE.finditer(text):
        word = match.group(0)
        code = STATES.get(" ".join(word.lower().split()))
        if code is None and word.isupper() and word in _CODES:
            code = word
        if code is not None:
            found.append((code, match.span()))
    return found


_PAGES = re.compile(
    r"[,;]?\s*\b(?:Page\(s\)|pages?|pgs?\.?|pp?\.?)\s*:?\s*"
    r"(\d+(?:\s*[-\u2013]\s*\d+)?(?:\s*(?:,|and|&)\s*\d+(?:\s*[-\u2013]\s*\d+)?)*)",
    re.I,
)
_NUMBER_OR_RANGE = re.compile(r"(\d+)(?:\s*[-\u2013]\s*(\d+))?")


def page_numbers(text: str) -> list[int]:
    """Every page cited, ranges expanded inclusively (``98-99`` -> ``[98, 99]``), in order."""
    pages: list[int] = []
    for match in _PAGES.finditer(text):
        for number in _NUMBER_OR_RANGE.finditer(match.group(1)):
            first = int(number.group(1))
            last = int(number.group(2)) if number.group(2) else first
            span = range(first, last + 1) if 0 <= last - first <= 200 else (first, last)
            pages.extend(page for page in span if page > 0 and page not in pages)
    return pages


def without_pages(text: str) -> str:
    """The text with its page references ("Page(s): 98-99", "p 301", "pp 12-13") taken out."""
    return _PAGES.sub("", text)
