"""Aligning the LLM's values to the letter: strings exact, fuzzy, or not found (possibly
invented); dates found as the letter writes them, or not found."""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from extractor.fields import path
from extractor.normalize import DATE, parse_date, state_codes
from extractor.schemas import Check, Determination, Span

FUZZY_THRESHOLD = 0.8
_WORD = re.compile(r"\S+")
_DATE = re.compile(DATE, re.I)
NOT_FOUND = "not found in the letter: possibly invented"


@dataclass(frozen=True)
class Grounding:
    how: Literal["exact", "fuzzy", "not_found"]
    span: Span | None


class LetterIndex:
    """The letter's words, lower-cased, with their offsets, for repeated look-ups."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.words = [
            (m.group(0).lower().strip(".,;:()\"'"), m.start(), m.end()) for m in _WORD.finditer(text)
        ]
        self.flat = " ".join(word for word, _, _ in self.words)
        self._starts: list[int] = []
        position = 0
        for word, _, _ in self.words:
            self._starts.append(position)
            position += len(word) + 1
        self._matcher = SequenceMatcher(None, autojunk=False)
        self._matcher.set_seq2(self.flat)

    def dates(self, reference: dt.date | None) -> dict[dt.date, Span]:
        """Every date the letter writes, in any form, at its first place; two-digit years
        expand against ``reference`` (the decision date) as the record's dates do."""
        written: dict[dt.date, Span] = {}
        for match in _DATE.finditer(self.text):
            value = parse_date(match.group(0), reference)
            if value is not None:
                written.setdefault(value, match.span())
        return written

    def number(self, value: int) -> Span | None:
        """Where the letter writes ``value`` as a number of its own, if it does."""
        match = re.search(rf"(?<![\d.]){value}(?![\d])", self.text)
        return match.span() if match else None

    def states(self) -> dict[str, Span]:
        """Every state the letter names (as a name or a USPS code), at its first place."""
        named: dict[str, Span] = {}
        for code, span in state_codes(self.text):
            named.setdefault(code, span)
        return named

    def _span(self, flat_start: int, flat_end: int) -> Span:
        first = max(0, bisect_right(self._starts, flat_start) - 1)
        if self._starts[first] + len(self.words[first][0]) <= flat_start:
            first += 1  # flat_start is the space after that word
        last = bisect_left(self._starts, flat_end) - 1
        return self.words[first][1], self.words[last][2]

    def find(self, value: str) -> Grounding:
        needle = " ".join(word.lower().strip(".,;:()\"'") for word in value.split())
        if not needle:
            return Grounding("not_found", None)
        at = self.flat.find(needle)
        if at >= 0:
            return Grounding("exact", self._span(at, at + len(needle)))
        self._matcher.set_seq1(needle)
        block = self._matcher.find_longest_match(0, len(needle), 0, len(self.flat))
        if block.size == 0:
            return Grounding("not_found", None)
        start = max(0, block.b - block.a)
        end = min(len(self.flat), start + len(needle))
        ratio = SequenceMatcher(None, needle, self.flat[start:end], autojunk=False).ratio()
        if ratio >= FUZZY_THRESHOLD:
            return Grounding("fuzzy", self._span(start, end))
        return Grounding("not_found", None)


def string_fields(determination: Determination) -> Iterator[tuple[str, str]]:
    """(field path, value) for every free-text string the model can invent."""
    case, patient = determination.case, determination.patient
    if case.case_number:
        yield path("case", "case_number"), case.case_number
    for index, value in enumerate(determination.reviewer.specialties):
        yield path("reviewer", "specialties", index), value
    for index, value in enumerate(determination.reviewer.subspecialties):
        yield path("reviewer", "subspecialties", index), value
    for index, value in enumerate(patient.diagnoses):
        yield path("patient", "diagnoses", index), value
    if patient.mechanism_of_injury:
        yield path("patient", "mechanism_of_injury"), patient.mechanism_of_injury
    for index, item in enumerate(determination.items):
        yield path("items", index, "request"), item.request
        if item.original_request:
            yield path("items", index, "original_request"), item.original_request


Found = tuple[str, object, Span | None]
"""(field path, value, where the letter writes it, or None)."""


def written_values(determination: Determination, letter: LetterIndex) -> Iterator[Found]:
    """Every date, age and state the model can invent: values a string match cannot ground."""
    written = letter.dates(determination.case.decision_date)
    for name, value in determination.case:
        if isinstance(value, dt.date):
            yield path("case", name), value.isoformat(), written.get(value)
    for index, item in enumerate(determination.items):
        for name, value in item:
            if isinstance(value, dt.date):
                yield path("items", index, name), value.isoformat(), written.get(value)
    if determination.patient.age is not None:
        age = determination.patient.age
        yield path("patient", "age"), age, letter.number(age)
    states = letter.states()
    for index, code in enumerate(determination.reviewer.licensure_states):
        yield path("reviewer", "licensure_states", index), code, states.get(code)


def ground(determination: Determination, letter: LetterIndex) -> tuple[dict[str, list[Span]], list[Check]]:
    """Evidence spans for what was found, and a flagged check for what was not."""
    found: list[Found] = [
        (field, value, letter.find(value).span) for field, value in string_fields(determination)
    ]
    found.extend(written_values(determination, letter))
    evidence = {field: [span] for field, _, span in found if span is not None}
    checks = [
        Check(field=field, llm=value, status="llm_only", review=True, note=NOT_FOUND)
        for field, value, span in found
        if span is None
    ]
    return evidence, checks
