"""Corrections: review lines appended to reviews.jsonl, and records with them applied.

Each save is one whole line written with ``O_APPEND`` and synced (the batch ledger's
:class:`~extractor.jobs.ledger.JsonLines`), so a crash loses at most the save in flight and a
torn last line is ignored on reading.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from extractor.jobs.ledger import JsonLines
from extractor.schemas import Record
from extractor.schemas.review import Review, ReviewAction, ReviewedDocument

REVIEWS_FILE = "reviews.jsonl"
_STEP = re.compile(r"\.?([a-z_]+)|\[(\d+)\]")
_ITEM = re.compile(r"determination\.items\[(\d+)\]")


class CorrectionError(ValueError):
    """A correction that names no field of the record or leaves it invalid."""


def parse_path(field: str) -> list[str | int]:
    """``determination.items[0].category`` as ``["determination", "items", 0, "category"]``."""
    steps: list[str | int] = []
    position = 0
    while position < len(field):
        match = _STEP.match(field, position)
        if match is None or (position == 0 and field.startswith(".")):
            raise CorrectionError(f"not a field path: {field!r}")
        steps.append(match.group(1) if match.group(1) else int(match.group(2)))
        position = match.end()
    if len(steps) < 2 or steps[0] != "determination":
        raise CorrectionError(f"only the determination's fields can be corrected, not {field!r}")
    return steps


def _parent(data: dict[str, Any], steps: list[str | int]) -> Any:
    node: Any = data
    for step in steps[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            raise CorrectionError(f"the record has no field {_render(steps)}") from None
    return node


def _render(steps: list[str | int]) -> str:
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in steps).lstrip(".")


def value_at(record: Record, field: str) -> Any:
    """The JSON value of ``field`` in ``record``."""
    steps = parse_path(field)
    parent = _parent(record.model_dump(mode="json"), steps)
    try:
        return parent[steps[-1]]
    except (KeyError, IndexError, TypeError):
        raise CorrectionError(f"the record has no field {field}") from None


def _apply_one(data: dict[str, Any], review: Review) -> None:
    if review.action == "accept" or review.field is None:
        return
    steps = parse_path(review.field)
    parent = _parent(data, steps)
    last = steps[-1]
    if review.action == "add_item" and isinstance(last, int) and last <= len(parent):
        parent.insert(last, review.new)
        _renumber_items(data, last, +1)
    elif review.action == "remove_item" and isinstance(last, int) and last < len(parent):
        del parent[last]
        _renumber_items(data, last, -1)
    elif review.action == "edit" and _has(parent, last):
        parent[last] = review.new
    else:
        raise CorrectionError(f"cannot {review.action} {review.field}")


def _renumber_items(data: dict[str, Any], at: int, delta: int) -> None:
    """Keep evidence and checks with their items when one is added (+1) or removed (-1) at ``at``:
    later items move, and a removed item's evidence and checks go with it."""

    def moved(field: str) -> str | None:
        match = _ITEM.match(field)
        if match is None or int(match.group(1)) < at:
            return field
        if delta < 0 and int(match.group(1)) == at:
            return None
        return f"determination.items[{int(match.group(1)) + delta}]{field[match.end() :]}"

    data["evidence"] = {new: spans for key, spans in data["evidence"].items() if (new := moved(key))}
    data["checks"] = [{**check, "field": new} for check in data["checks"] if (new := moved(check["field"]))]


def _has(parent: Any, key: str | int) -> bool:
    if isinstance(parent, dict):
        return key in parent
    return isinstance(parent, list) and isinstance(key, int) and key < len(parent)


def applied(record: Record, reviews: list[Review]) -> Record:
    """``record`` with ``reviews`` applied in order; a reviewed record no longer needs review."""
    if not reviews:
        return record
    data = record.model_dump(mode="json")
    for review in reviews:
        _apply_one(data, review)
    data["needs_review"] = False
    try:
        return Record.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{_render(list(e['loc']))}: {e['msg']}" for e in error.errors())
        raise CorrectionError(problems) from None


class ReviewLog:
    """reviews.jsonl beside a batch's records: every review line, by the document's sha256."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = JsonLines(path, sync_interval=0.0)
        self._lock = threading.Lock()
        self._by_sha: dict[str, list[Review]] = defaultdict(list)
        for line in self._file.lines():
            review = Review.model_validate_json(line)
            self._by_sha[review.document.sha256].append(review)

    def reviews(self, record: Record) -> list[Review]:
        with self._lock:
            return list(self._by_sha.get(record.document.sha256, ()))

    def corrected(self, record: Record) -> Record:
        return applied(record, self.reviews(record))

    def save(
        self, record: Record, action: ReviewAction, who: str, field: str | None = None, new: Any = None
    ) -> Review:
        """Check that the correction leaves a valid record, then append it; returns the line written."""
        with self._lock:
            earlier = list(self._by_sha.get(record.document.sha256, ()))
            current = applied(record, earlier) if earlier else record
            old = value_at(current, field) if field and action != "add_item" else None
            document = ReviewedDocument(
                id=record.document.id, path=record.document.path, sha256=record.document.sha256
            )
            review = Review(
                document=document, who=who, when=dt.datetime.now(dt.UTC), action=action, field=field,
                old=old, new=new,
            )  # fmt: skip
            if action in ("add_item", "remove_item") and (field is None or not _ITEM.fullmatch(field)):
                raise CorrectionError("an item is added or removed at determination.items[N]")
            applied(record, [*earlier, review])
            self._file.append(review.model_dump_json())
            self._by_sha[record.document.sha256].append(review)
            return review

    def close(self) -> None:
        self._file.close()


def reviews_beside(records_path: Path) -> ReviewLog:
    return ReviewLog(records_path.parent / REVIEWS_FILE)


def write_reviewed(records: list[Record], log: ReviewLog, stream: IO[str]) -> int:
    """Every record as JSON lines with its corrections applied; returns how many were reviewed."""
    reviewed = 0
    for record in records:
        reviews = log.reviews(record)
        reviewed += bool(reviews)
        stream.write(applied(record, reviews).model_dump_json() + "\n")
    return reviewed
