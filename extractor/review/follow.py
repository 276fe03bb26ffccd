"""Evidence that follows an edit: the new value's place in the letter, near where the old one was.

A box left on the old value's words would show the reviewer text that no longer backs the
record, so an edited value's evidence is where its new value is written in the letter, the
occurrence nearest the old evidence; a value the letter does not write has none.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from extractor.review.corrections import value_at
from extractor.review.fields import under
from extractor.schemas import Record
from extractor.schemas.record import Span

DATE_FORMATS = ("%m/%d/%Y", "%B %d, %Y", "%m/%d/%y")
"""How letters write a date (``%d`` and ``%m`` are also tried without their leading zero)."""


def follow_edits(record: Record, settled: Mapping[str, str], text: str | None) -> Record:
    """``record`` with each edited value's evidence found anew in ``text`` (the letter's)."""
    if text is None:
        return record
    evidence = dict(record.evidence)
    for path in (path for path, action in settled.items() if action == "edit"):
        old = sorted(span for key in list(evidence) if under(key, path) for span in evidence.pop(key))
        found = locate(text, value_at(record, path), old[0][0] if old else 0)
        if found:
            evidence[path] = found
    return record.model_copy(update={"evidence": evidence})


def locate(text: str, value: Any, near: int) -> list[Span]:
    """Where each part of ``value`` (a string, a date, a number, or a list of them) is written
    in ``text``, the occurrence nearest ``near`` for each; parts not written are left out."""
    parts = value if isinstance(value, list) else [value]
    spans = (_nearest(text, spellings(part), near) for part in parts)
    return sorted(span for span in spans if span is not None)


def spellings(value: Any) -> list[str]:
    """The ways a letter may write ``value``: a date as letters write dates, else its text."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return []
    try:
        date = dt.date.fromisoformat(str(value))
    except ValueError:
        return [str(value)] if str(value).strip() else []
    written = {date.strftime(form) for form in DATE_FORMATS}
    return sorted(written | {re.sub(r"\b0(\d)", r"\1", spelled) for spelled in written})


def _nearest(text: str, spellings: list[str], near: int) -> Span | None:
    found = [match.span() for spelled in spellings for match in _pattern(spelled).finditer(text)]
    return min(found, key=lambda span: abs(span[0] - near), default=None)


def _pattern(spelled: str) -> re.Pattern[str]:
    """``spelled`` as a whole phrase, in any case, its words apart by any spaces or line breaks."""
    words = r"\s+".join(re.escape(word) for word in spelled.split())
    return re.compile(rf"(?<![A-Za-z0-9]){words}(?![A-Za-z0-9])", re.IGNORECASE)
