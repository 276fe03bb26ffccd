"""The expert reviewer's licensure states, specialties and subspecialties.

Two forms exist: the credentials block ("State(s) of Licensure: ... Certification(s)/Specialty:
...") and the older sentence ("Board Certified in X, has a subspecialty in Y, and is licensed to
practice in Z").
"""

from __future__ import annotations

import re

from extractor.fields import path
from extractor.normalize import state_codes
from extractor.rules.evidence import Evidence
from extractor.schemas import Reviewer, Span

_LICENSURE = re.compile(r"State\(s\) of Licensure:\s*(.*?)\s*(?=Certification\(s\)|$)", re.S)
_SPECIALTY = re.compile(r"Certification\(s\)/Specialty:\s*(.*?)\s*$", re.S)
_BOARD = re.compile(
    r"Board\sCertified\sin\s(?P<spec>.+?)"
    r"(?:,?\s+(?:and\s)?(?:has\sa\s)?sub-?specialt(?:y|ies)\s(?:certification\s)?in\s(?P<sub>.+?))?"
    r",?\s+(?:and\s)?(?:is\s)?licensed\sto\spractice\sin\s(?P<states>.+?)\.",
    re.S | re.I,
)
_SPLIT = re.compile(r"\s*[,;]\s*")


def split_specialties(text: str) -> list[tuple[str, Span]]:
    """Split on commas/semicolons, joining wrapped lines, ``&`` written as ``and``."""
    parts = []
    position = 0
    for piece in _SPLIT.split(text):
        begin = text.index(piece, position) if piece else position
        position = begin + len(piece)
        value = " ".join(piece.replace("&", " and ").split()).strip(" .")
        value = re.sub(r"^and\s+", "", value)
        if value:
            parts.append((value, (begin, position)))
    return parts


def _add_all(values: list[tuple[str, Span]], field: str, offset: int, evidence: Evidence) -> list[str]:
    for index, (_, (start, end)) in enumerate(values):
        evidence.add(path("reviewer", field, index), (offset + start, offset + end))
    return [value for value, _ in values]


def extract_reviewer(text: str, credentials: Span | None, evidence: Evidence) -> Reviewer:
    reviewer = Reviewer()
    if credentials is None:
        return reviewer
    start, end = credentials
    block = text[start:end]
    licensure = _LICENSURE.search(block)
    specialty = _SPECIALTY.search(block[licensure.end() :] if licensure else block)
    if licensure or specialty:
        if licensure:
            offset = start + licensure.start(1)
            reviewer.licensure_states = _add_all(
                state_codes(licensure.group(1)), "licensure_states", offset, evidence
            )
        if specialty:
            offset = start + (licensure.end() if licensure else 0) + specialty.start(1)
            reviewer.specialties = _add_all(
                split_specialties(specialty.group(1)), "specialties", offset, evidence
            )
        return reviewer
    board = _BOARD.search(block)
    if board:
        reviewer.specialties = _add_all(
            split_specialties(board.group("spec")), "specialties", start + board.start("spec"), evidence
        )
        if board.group("sub"):
            reviewer.subspecialties = _add_all(
                split_specialties(board.group("sub")), "subspecialties", start + board.start("sub"), evidence
            )
        reviewer.licensure_states = _add_all(
            state_codes(board.group("states")), "licensure_states", start + board.start("states"), evidence
        )
    return reviewer
