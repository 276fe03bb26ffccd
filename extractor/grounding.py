"""Aligning the LLM's values to the letter: strings exact, fuzzy, or not found (possibly
invented); dates found as the letter writes them, or not found."""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from difflib import Match, SequenceMatcher
from typing import Literal

from extractor.fields import path
from extractor.normalize import DATE, parse_date, state_codes
from extractor.schemas import Check, Determination, Span

FUZZY_THRESHOLD = 0.8
FUZZY_MAX_CHARS = 500
"""A longer value is found as the letter writes it or not at all: the ratio of a near match takes
time quadratic in its length (the longest value the rules read in the published letters has 335
characters, the longest a model wrote 200)."""
_WORD = re.compile(r"\S+")
_DATE = re.compile(DATE, re.I)
NOT_FOUND = "not found in the letter: possibly invented"


@dataclass(frozen=True)
class Grounding:
    how: Literal["exact", "fuzzy", "not_found"]
    span: Span | None


class _Automaton:
    """The suffix automaton of a string: every substring of it, in states built in linear time."""

    def __init__(self, text: str) -> None:
        self.next: list[dict[str, int]] = [{}]
        self.link = [-1]
        self.length = [0]
        self.end = [-1]
        """Where in ``text`` a state's substrings first end."""
        last = 0
        for position, char in enumerate(text):
            last = self._extend(last, char, position)

    def _state(self, length: int, end: int, link: int = -1, moves: dict[str, int] | None = None) -> int:
        self.next.append(moves or {})
        self.link.append(link)
        self.length.append(length)
        self.end.append(end)
        return len(self.length) - 1

    def _extend(self, last: int, char: str, position: int) -> int:
        current = self._state(self.length[last] + 1, position)
        state = last
        while state != -1 and char not in self.next[state]:
            self.next[state][char] = current
            state = self.link[state]
        if state == -1:
            self.link[current] = 0
            return current
        target = self.next[state][char]
        if self.length[state] + 1 == self.length[target]:
            self.link[current] = target
            return current
        clone = self._state(
            self.length[state] + 1, self.end[target], self.link[target], dict(self.next[target])
        )
        while state != -1 and self.next[state].get(char) == target:
            self.next[state][char] = clone
            state = self.link[state]
        self.link[target] = self.link[current] = clone
        return current


def longest_match(needle: str, text: str) -> Match:
    """The longest block ``needle`` and ``text`` share, the first in the needle, then in the text:
    difflib's ``find_longest_match`` (autojunk off), in time linear in both and memory linear in
    the needle (difflib's takes the needle's length times the text's: 220 s for a 100 KB value).

    The text runs once through the needle's automaton, which holds at each position the longest
    block ending there, and the needle's first place of it.
    """
    automaton = _Automaton(needle)
    moves, link, length = automaton.next, automaton.link, automaton.length
    best = Match(0, 0, 0)
    state = matched = 0
    for end, char in enumerate(text):
        while state and char not in moves[state]:
            state = link[state]
            matched = length[state]
        if char in moves[state]:
            state = moves[state][char]
            matched += 1
        if matched and matched >= best.size:
            start = automaton.end[state] - matched + 1
            if matched > best.size or start < best.a:
                best = Match(start, end - matched + 1, matched)
    return best


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
        if len(needle) > FUZZY_MAX_CHARS:
            return Grounding("not_found", None)
        block = longest_match(needle, self.flat)
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
