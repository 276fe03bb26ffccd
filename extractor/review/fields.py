"""The record's fields as the review page lists them: grouped as the contract groups them,
each with its value, how to edit it, its check status and its evidence spans."""

from __future__ import annotations

import datetime as dt
import enum
import types
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from extractor.schemas import Record
from extractor.schemas.record import Check, Span

NOT_FOUND_NOTE = "not found in the letter"
"""How extractor.grounding's note starts for a value the LLM gave that the letter does not have."""

Status = Literal["agree", "disagree", "rules_only", "llm_only", "not_found", "found", "empty"]
"""The check's status, else ``found`` (read with evidence, not compared), ``not_found`` (a value
without evidence) or ``empty`` (no value)."""


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

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


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
    return [
        span
        for key, spans in evidence.items()
        if key == path or key.startswith((f"{path}[", f"{path}."))
        for span in spans
    ]


def _status(check: Check | None, value: Any, spans: list[Span]) -> Status:
    if check is not None:
        return "not_found" if (check.note or "").startswith(NOT_FOUND_NOTE) else check.status
    if value is None or value == []:
        return "empty"
    return "found" if spans else "not_found"


def _views(
    model: BaseModel, prefix: str, group: str, record: Record, checks: dict[str, Check]
) -> list[FieldView]:
    views = []
    for name, info in type(model).model_fields.items():
        path = f"{prefix}.{name}"
        kind, options, nullable = _kind(info.annotation)
        value = _json(getattr(model, name))
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
                **compared,
            )
        )
    return views


def _json(value: Any) -> Any:
    if isinstance(value, list):
        return [_json(element) for element in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def field_views(record: Record) -> list[FieldView]:
    """Case, reviewer, patient, then each item: every field of the determination, in schema order."""
    checks = {check.field: check for check in record.checks}
    determination = record.determination
    views = [
        *_views(determination.case, "determination.case", "Case", record, checks),
        *_views(determination.reviewer, "determination.reviewer", "Reviewer", record, checks),
        *_views(determination.patient, "determination.patient", "Patient", record, checks),
    ]
    for index, item in enumerate(determination.items):
        views.extend(_views(item, f"determination.items[{index}]", f"Item {index + 1}", record, checks))
    return views


def other_checks(record: Record, views: list[FieldView]) -> list[Check]:
    """Checks on no listed field: the item count, items only one pass reported."""
    listed = {view.path for view in views}
    return [check for check in record.checks if check.field not in listed]
