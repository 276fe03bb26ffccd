"""Reviewed records as hand labels: a fixture in the eval's format for each reviewed letter.

A label holds only what a person vouches for (evals/LABELLING.md: a key left out is "not
labelled").  So it leaves out each item's rationale, which labels never hold, and, unless the
reviewer entered them, the values the record holds no reading of: a field its backend never
reads (extractor.fields: the LLM pass alone reads no item's ``depends_on``), and one the record
says was not read in this letter and left empty (a letter without a case summary leaves the
rules pass no diagnoses).  Their empty values say nothing about the letter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from extractor.fields import BY_NAME, ITEMS, KEY_FIELDS, FieldPath, name_of, not_read_by
from extractor.pipeline import BACKENDS
from extractor.review.batch import DocumentFinder
from extractor.review.corrections import ReviewLog, applied
from extractor.review.fields import NOT_READ_NOTES
from extractor.schemas import Fixture, Record
from extractor.schemas.review import Review

NEVER_LABELLED = frozenset({name_of(ITEMS, "rationale")})
"""The item fields no label holds (evals/LABELLING.md)."""


def unvouched(record: Record) -> list[FieldPath]:
    """The key fields' values ``record`` holds no reading of, in schema order: those its backend
    never reads, and those a check says were not read in this letter, left empty."""
    never = not_read_by(BACKENDS[record.provenance.backend].reads)
    unread = {check.field for check in record.checks if (check.note or "").startswith(NOT_READ_NOTES)}
    data = record.determination.model_dump(mode="json")
    places = [
        key.at(index)
        for key in KEY_FIELDS
        if key.section
        for index in (range(len(data[ITEMS])) if key.section == ITEMS else [None])
    ]
    return [
        where
        for where in places
        if where.name not in NEVER_LABELLED
        and (
            where.name in never or (str(where) in unread and where.parent_in(data)[where.last] in (None, []))
        )
    ]


def _never_labelled(record: Record) -> list[FieldPath]:
    """Each item's values no label holds."""
    items = range(len(record.determination.items))
    return [BY_NAME[name].at(index) for name in sorted(NEVER_LABELLED) for index in items]


def label_for(record: Record, reviews: list[Review], finder: DocumentFinder) -> dict[str, Any]:
    """The label a review amounts to, as fixture JSON; its document path is relative to the
    documents folder."""
    reviewed = applied(record, reviews)
    determination = reviewed.determination.model_dump(mode="json")
    edited = {review.field for review in reviews if review.action == "edit"}
    for where in [*unvouched(reviewed), *_never_labelled(reviewed)]:
        if str(where) not in edited or where.name in NEVER_LABELLED:
            del where.parent_in(determination)[where.last]
    found = finder.find(record.document.path, record.document.sha256)
    reviewers = ", ".join(sorted({review.who for review in reviews}))
    edits = sum(review.action != "accept" for review in reviews)
    label = {
        "document": {
            "id": record.document.id,
            "path": finder.relative(found) if found else Path(record.document.path).name,
        },
        "determination": determination,
        "notes": f"reviewed in extractor review by {reviewers}: the {record.provenance.backend} record "
        f"with {edits} correction(s)",
    }
    Fixture.model_validate(label)
    return label


def write_fixtures(
    records: list[Record], log: ReviewLog, finder: DocumentFinder, out: Path
) -> tuple[int, list[str]]:
    """Write ``out/<id>.json`` for each reviewed record not labelled there yet.

    Returns how many were written and the ids skipped because a label file already exists (a
    hand label is never overwritten).
    """
    out.mkdir(parents=True, exist_ok=True)
    written, skipped = 0, []
    for record in records:
        reviews = log.reviews(record)
        if not reviews:
            continue
        target = out / f"{record.document.id}.json"
        if target.exists():
            skipped.append(record.document.id)
            continue
        label = label_for(record, reviews, finder)
        target.write_text(json.dumps(label, indent=2) + "\n", encoding="utf-8")
        written += 1
    return written, skipped
