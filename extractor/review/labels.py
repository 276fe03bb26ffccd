"""Reviewed records as hand labels: a fixture in the eval's format for each reviewed letter."""

from __future__ import annotations

import json
from pathlib import Path

from extractor.review.batch import DocumentFinder
from extractor.review.corrections import ReviewLog, applied
from extractor.schemas import Fixture, Record
from extractor.schemas.fixture import FixtureDocument
from extractor.schemas.review import Review


def fixture_for(record: Record, reviews: list[Review], finder: DocumentFinder) -> Fixture:
    """The label a review amounts to; its document path is relative to the documents folder."""
    corrected = applied(record, reviews)
    found = finder.find(record.document.path)
    path = finder.relative(found) if found else Path(record.document.path).name
    reviewers = ", ".join(sorted({review.who for review in reviews}))
    edits = sum(review.action != "accept" for review in reviews)
    return Fixture(
        document=FixtureDocument(id=record.document.id, path=path),
        determination=corrected.determination,
        notes=f"reviewed in extractor review by {reviewers}: the {record.provenance.backend} record "
        f"with {edits} correction(s)",
    )


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
        fixture = fixture_for(record, reviews, finder)
        target.write_text(json.dumps(fixture.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
        written += 1
    return written, skipped
