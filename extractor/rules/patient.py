"""Age, sex and date of injury from the clinical case summary."""

from __future__ import annotations

import datetime as dt
import re

from extractor.fields import path
from extractor.normalize import DATE, parse_date
from extractor.rules.evidence import Evidence
from extractor.schemas import Span

_SEX_WORDS = {
    "male": "male", "man": "male", "gentleman": "male", "gentlemen": "male",
    "female": "female", "woman": "female", "lady": "female",
}  # fmt: skip
_AGE_SEX = re.compile(
    r"\b(?P<age>\d{1,3})(?:[- ]?(?:years?|yrs?\.?)[- ](?:old|of age)|[- ]?(?:y/o|yo)\b),?"
    r"(?:\s+(?:[a-z-]+\s+){0,3}?(?P<sex>male|female|man|woman|gentleman|lady)\b)?",
    re.I,
)
_PRONOUN = re.compile(r"\b(He|She|His|Her)\b")
_INJURY_DATE = re.compile(
    rf"\b(?:injur(?:y|ies|ed)(?!\s+(?:worker|employee|party))|DOI|accident|incident|fell)\b"
    rf"[^.;]{{0,60}}?\b({DATE})",
    re.I,
)


def extract_age_sex(text: str, summary: Span, evidence: Evidence) -> tuple[int | None, str | None]:
    start, end = summary
    block = text[start:end]
    age: int | None = None
    sex: str | None = None
    match = _AGE_SEX.search(block)
    if match and 0 < int(match.group("age")) <= 120:
        age = int(match.group("age"))
        evidence.add(path("patient", "age"), (start + match.start("age"), start + match.end("age")))
        if match.group("sex"):
            sex = _SEX_WORDS[match.group("sex").lower()]
            evidence.add(path("patient", "sex"), (start + match.start("sex"), start + match.end("sex")))
    if sex is None:
        pronoun = _PRONOUN.search(block)
        if pronoun:
            sex = "male" if pronoun.group(1) in ("He", "His") else "female"
            evidence.add(path("patient", "sex"), (start + pronoun.start(1), start + pronoun.end(1)))
    return age, sex


def extract_injury_date(
    text: str, summary: Span, reference: dt.date | None, evidence: Evidence
) -> dt.date | None:
    """The first date the summary ties to the injury, for letters without one in the header."""
    start, end = summary
    match = _INJURY_DATE.search(text, start, end)
    if match is None:
        return None
    value = parse_date(match.group(1), reference)
    if value is not None:
        evidence.add(path("case", "date_of_injury"), (match.start(1), match.end(1)))
    return value
