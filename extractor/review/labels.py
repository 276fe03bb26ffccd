"""Reviewed records as hand labels: a fixture in the eval's format for each reviewed letter.

A label holds only what a person vouches for (evals/LABELLING.md: a key left out is "not
labelled").  So it leaves out each item's rationale, which labels never hold, and, for a rules
record, the patient's diagnoses and mechanism of injury unless the reviewer entered them: the
rules pass does not read those, so its empty values say nothing about the letter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from extractor.review.batch import DocumentFinder
from extractor.review.corrections import ReviewLog, applied
from extractor.schemas import Fixture, Record
from extractor.schemas.review import Review

NOT_READ_BY_RULES = ("diagnoses", "mechanism_of_injury")
"""Patient fields the rules pass leaves empty whatever the letter says (README: the rules pass)."""


def label_for(record: Record, reviews: list[Review], finder: DocumentFinder) -> dict[str, Any]:
    """The label a review amounts to, as fixture JSON; its document path is relative to the
    documents folder."""
    determination = applied(record, reviews).determination.model_dump(mode="json")
    for item in determination["items"]:
        del item["rationale"]
    if record.provenance.backend == "rules":
        edited = {review.field for review in reviews if review.action == "edit"}
        for name in NOT_READ_BY_RULES:
            if f"determination.patient.{name}" not in edited:
                del determination["patient"][name]
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
