"""A batch as its reviewers left it: the lines of records.jsonl with the corrections in
reviews.jsonl beside them applied, so that ``stats`` and ``export`` count what a person decided,
and what those corrections say about the machine's flags.

Only a batch's own ``records.jsonl`` takes the log beside it: any other records file (one
``export --reviewed`` wrote, say) is read as it is, so no correction is applied twice.  A record is
parsed only when the log has reviews of its document, so an unreviewed batch costs nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from extractor.review.batch import RECORDS_FILE
from extractor.review.corrections import REVIEWS_FILE, CorrectionError, ReviewLog, applied, reviews_beside
from extractor.schemas import Record
from extractor.schemas.review import Review

_SHA256 = re.compile(r'"sha256"\s*:\s*"([0-9a-f]{64})"')
"""The first sha256 of a record line is its document's (the document is the record's first field)."""
_INDEX = re.compile(r"\[\d+\]")


@dataclass
class ReviewSummary:
    """What the corrections of reviews.jsonl changed in a batch (nothing when not applied)."""

    log: Path | None = None
    """The review log read; None when there is none beside the records."""
    applied: bool = False
    letters: int = 0
    """Records with at least one review (an accept counts)."""
    corrections: Counter[str] = field(default_factory=Counter)
    """Edits that changed a value, and items added or removed, by field (indices as ``[]``)."""
    flagged: int = 0
    """Values flagged for review (checks with review=true) in reviewed records."""
    flagged_changed: int = 0
    unflagged_changed: int = 0
    """Values a person changed that no check had flagged: what the flags missed."""
    stale: int = 0
    """Records whose reviews no longer apply (re-extracted since): counted as extracted."""

    @property
    def total(self) -> int:
        return sum(self.corrections.values())


def _related(one: str, other: str) -> bool:
    """Whether two record paths name the same value, or one holds the other."""
    short, long = sorted((one, other), key=len)
    return long == short or long.startswith((f"{short}.", f"{short}["))


def changes(reviews: list[Review]) -> list[str]:
    """The fields a person changed: edits to another value, items added or removed."""
    return [
        review.field
        for review in reviews
        if review.field is not None and review.action != "accept" and review.old != review.new
    ]


def _count(summary: ReviewSummary, record: Record, reviews: list[Review]) -> None:
    changed = changes(reviews)
    flagged = [check.field for check in record.checks if check.review]
    summary.letters += 1
    summary.corrections.update(_INDEX.sub("[]", name) for name in changed)
    summary.flagged += len(flagged)
    summary.flagged_changed += sum(any(_related(f, c) for c in changed) for f in flagged)
    summary.unflagged_changed += sum(not any(_related(f, c) for f in flagged) for c in changed)


def _corrected(line: str, log: ReviewLog, reviewed: set[str], summary: ReviewSummary) -> str:
    """One record line as reviewed (or as it is, when it has no review that applies);
    ``reviewed``: the documents the log has reviews of."""
    found = _SHA256.search(line)
    if found is None or found.group(1) not in reviewed:
        return line
    record = Record.model_validate_json(line)
    reviews = log.reviews(record)
    if not reviews:
        return line
    try:
        corrected = applied(record, reviews)
    except CorrectionError:
        summary.stale += 1
        return line
    _count(summary, record, reviews)
    return corrected.model_dump_json()


def reviewed_lines(records: Path, lines: list[str], apply: bool = True) -> tuple[list[str], ReviewSummary]:
    """``lines`` (of the records file ``records``) with the reviews beside them applied, and
    what they changed; unless ``apply`` is false, when the log is not even read (the machine's
    values, whatever state it is in).  Raises ReviewLogError for a log that cannot be read."""
    path = records.parent / REVIEWS_FILE
    if records.name != RECORDS_FILE or not path.exists():
        return lines, ReviewSummary()
    summary = ReviewSummary(log=path, applied=apply)
    if not apply:
        return lines, summary
    log = reviews_beside(records)
    try:
        reviewed = log.documents()
        return [_corrected(line, log, reviewed, summary) for line in lines], summary
    finally:
        log.close()


def note(summary: ReviewSummary) -> str | None:
    """The line a command says on stderr about the reviews it applied, or None without a log."""
    if summary.log is None:
        return None
    name = summary.log.name
    said = (
        f"{summary.total} corrections from {name} applied ({summary.letters} records reviewed)"
        if summary.applied
        else f"--no-reviews: the corrections in {name} are not applied (the machine's values)"
    )
    if summary.stale:
        said += f"; the reviews of {summary.stale} records no longer apply (re-extracted?): read as extracted"
    return said
