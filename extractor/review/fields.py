"""The record's fields as the review page lists them: grouped as the contract groups them,
each with its value, how to edit it, its check status and its evidence spans."""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from extractor.fields import ITEMS, SECTIONS, FieldPath, json_value
from extractor.pipeline import MISSING
from extractor.schemas import Record
from extractor.schemas.record import Check, Span

NOT_FOUND_NOTE = "not found in the letter"
"""How extractor.grounding's note starts for a value the LLM gave that the letter does not have."""
NOT_READ_NOTES = ("not read", MISSING)
"""How a note starts for a field the rules pass could not read, or a required one missing."""
DOUBTFUL_NOTE = re.compile(r"doubtful \([0-9.]+\): ")
"""How extractor.confidence's note starts for a value below the review threshold."""
UNSAID = {
    "disagree": "the rules and the LLM read different values",
    "rules_only": "only the rules pass read it",
    "llm_only": "only the LLM read it",
    "agree": "both passes read it, yet it is flagged",
}
"""A flag's reason when its check has no note: what its status means."""

Status = Literal[
    "agree", "disagree", "rules_only", "llm_only", "doubtful", "not_read", "not_found", "found", "empty"
]
"""The check's status, else ``found`` (read with evidence, not compared), ``not_found`` (a value
without evidence) or ``empty`` (no value).  A check's status is told apart where the words
differ: ``not_read`` (the rules could not read it, or a required field is missing) and
``doubtful`` (a flag on a value only the rules pass read, below the review threshold)."""


@dataclass(frozen=True)
class FieldView:
    path: str
    group: str
    label: str
    kind: str
    """How it is edited: date, enum, int, text, lines (a list of strings) or json."""
    value: Any
    status: Status
    spans: list[Span]
    options: list[str] = field(default_factory=list)
    nullable: bool = False
    rules: Any = None
    llm: Any = None
    note: str | None = None
    review: bool = False
    confidence: float | None = None
    """The lowest confidence of the value and its elements; None when the record has none."""
    flags: list[str] = field(default_factory=list)
    """The reason of every flag (a check with review) on the value or its elements."""
    settled: str | None = None
    """``accept`` or ``edit`` when a review settled the value."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def reason(check: Check) -> str:
    """What a flag says to the reviewer: its note, else what its status means."""
    return check.note or UNSAID[check.status]


def reason_kinds(text: str) -> list[str]:
    """A reason's parts with what they quote from the letter left out, so that the same signal
    on different letters reads the same ("diagnosis '…' holds the words of its statement")."""
    parts = DOUBTFUL_NOTE.sub("", text).split("; ")
    return [re.sub(r"'[^']*'", "'…'", part).strip() for part in parts if part.strip()]


def under(key: str, path: str) -> bool:
    """Whether ``key`` is ``path`` or one of its elements (``specialties[0]``, ``guidelines[0].title``)."""
    return FieldPath.parse(key).under(FieldPath.parse(path))


def _kind(annotation: Any) -> tuple[str, list[str], bool]:
    """The editor for a field's type, its choices, and whether null is allowed."""
    args = get_args(annotation)
    nullable = get_origin(annotation) in (Union, types.UnionType) and type(None) in args
    if nullable:
        annotation = next(arg for arg in args if arg is not type(None))
    if annotation is dt.date:
        return "date", [], nullable
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "enum", [member.value for member in annotation], nullable
    if get_origin(annotation) is Literal:
        return "enum", [str(arg) for arg in get_args(annotation)], nullable
    if annotation is int:
        return "int", [], nullable
    if annotation is str:
        return "text", [], nullable
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        return "lines", [], nullable
    return "json", [], nullable


def _spans(evidence: dict[str, list[Span]], path: str) -> list[Span]:
    """The field's own spans and those of its elements (``specialties[0]``)."""
    return [span for key, spans in evidence.items() if under(key, path) for span in spans]


def _lowest(confidence: dict[str, float], path: str) -> float | None:
    return min((score for key, score in confidence.items() if under(key, path)), default=None)


def _status(check: Check | None, value: Any, spans: list[Span]) -> Status:
    if check is not None:
        note = check.note or ""
        if note.startswith(NOT_FOUND_NOTE):
            return "not_found"
        if note.startswith(NOT_READ_NOTES):
            return "not_read"
        if DOUBTFUL_NOTE.match(note) and check.rules is None and check.llm is None:
            return "doubtful"
        return check.status
    if value is None or value == []:
        return "empty"
    return "found" if spans else "not_found"


@dataclass(frozen=True)
class _Context:
    """What every field's view is drawn from besides its value."""

    record: Record
    checks: dict[str, Check]
    settled: Mapping[str, str]


def _views(model: BaseModel, prefix: FieldPath, group: str, context: _Context) -> list[FieldView]:
    record, checks = context.record, context.checks
    views = []
    for name, info in type(model).model_fields.items():
        path = str(prefix.child(name))
        kind, options, nullable = _kind(info.annotation)
        value = json_value(getattr(model, name))
        spans = _spans(record.evidence, path)
        check = checks.get(path)
        compared = {} if check is None else check.model_dump(include={"rules", "llm", "note", "review"})
        views.append(
            FieldView(
                path=path,
                group=group,
                label=name.replace("_", " "),
                kind=kind,
                value=value,
                status=_status(check, value, spans),
                spans=spans,
                options=options,
                nullable=nullable,
                confidence=_lowest(record.confidence, path),
                flags=[reason(c) for c in record.checks if c.review and under(c.field, path)],
                settled=context.settled.get(path),
                **compared,
            )
        )
    return views


def field_views(record: Record, settled: Mapping[str, str] | None = None) -> list[FieldView]:
    """Case, reviewer, patient, then each item: every field of the determination, in schema order.

    ``settled``: the values reviews settled (extractor.review.corrections.reviewed_values).
    """
    context = _Context(record, {check.field: check for check in record.checks}, settled or {})
    determination = record.determination
    views = [
        view
        for section in SECTIONS
        for view in _views(getattr(determination, section), FieldPath.of(section), section.title(), context)
    ]
    for index, item in enumerate(determination.items):
        views.extend(_views(item, FieldPath.of(ITEMS, index), f"Item {index + 1}", context))
    return views


@dataclass(frozen=True)
class Flag:
    """A flagged value as the queue names it: the field it is shown at, and why."""

    path: str
    """The listed field's path, or the check's own for a flag on no listed field (the item count)."""
    reason: str


def flags(record: Record, views: list[FieldView]) -> list[Flag]:
    """Every flag, in the order the page walks them: each listed field's, then the record's own."""
    listed = [Flag(view.path, text) for view in views for text in view.flags]
    return listed + [Flag(c.field, reason(c)) for c in other_checks(record, views) if c.review]


def other_checks(record: Record, views: list[FieldView]) -> list[Check]:
    """Checks on no listed field: the item count, items only one pass reported."""
    listed = {view.path for view in views}
    return [check for check in record.checks if check.field not in listed]
