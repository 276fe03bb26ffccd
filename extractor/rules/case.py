"""The header block: case number, dates and priority."""

from __future__ import annotations

import datetime as dt
import re

from extractor.fields import path
from extractor.normalize import DATE, parse_date
from extractor.rules.evidence import Evidence
from extractor.schemas import Case, Span

CASE_NUMBER = re.compile(r"\bCase\s+(?:Number|No\.?|#):?\s*([A-Z]{2}\d{2}-\d{5,})")
_DATE_FIELDS = {
    "date_assigned": r"Date\s+Assigned",
    "decision_date": r"(?:Decision\s+Date|Determination\s+Dated)",
    "date_of_injury": r"Date\s+of\s+Injury",
    "ur_denial_date": r"UR\s+Denial\s+Date",
    "application_received": r"(?:Application\s+)?Received",
}
_DATE_PATTERNS = {
    name: re.compile(rf"\b{label}:?[ \t]*\n?[ \t]*({DATE})") for name, label in _DATE_FIELDS.items()
}
# "Received:" is alone on the line after "Priority: Standard Application" in the PDF layout.
_RECEIVED_SPLIT = re.compile(rf"\bReceived:\s*({DATE})")
_PRIORITY = re.compile(r"\bPriority:[ \t]*([A-Za-z][A-Za-z ]*?)[ \t]*(?:\bApplication\b|$)", re.M)


def _date(
    name: str, header: str, offset: int, reference: dt.date | None, evidence: Evidence
) -> dt.date | None:
    match = _DATE_PATTERNS[name].search(header)
    if match is None and name == "application_received":
        match = _RECEIVED_SPLIT.search(header)
    if match is None:
        return None
    value = parse_date(match.group(1), reference)
    if value is not None:
        evidence.add(path("case", name), (offset + match.start(1), offset + match.end(1)))
    return value


def extract_case(text: str, header: Span, evidence: Evidence) -> Case:
    """Fields of the header; ``header`` is the span before the first section heading."""
    start, end = header
    block = text[start:end]
    case = Case()
    number = CASE_NUMBER.search(block)
    if number:
        case.case_number = number.group(1)
        evidence.add(path("case", "case_number"), (start + number.start(1), start + number.end(1)))
    case.decision_date = _date("decision_date", block, start, None, evidence)
    for name in ("date_assigned", "date_of_injury", "ur_denial_date", "application_received"):
        setattr(case, name, _date(name, block, start, case.decision_date, evidence))
    priority = _PRIORITY.search(block)
    if priority and priority.group(1).strip():
        case.priority = priority.group(1).strip().title()
        evidence.add(path("case", "priority"), (start + priority.start(1), start + priority.end(1)))
    return case
