"""A small batch for the review tests: two real letters (one with 21 items) and a seed text."""

from __future__ import annotations

from pathlib import Path

from extractor.jobs import BatchOptions, run_batch
from tests.documents import require_letter

LETTERS = ("letters/CM16-0213037.pdf", "letters/CM16-0248698.pdf", "seeds/000_bcbad93b04dfc64b.txt")


def make_batch(out: Path) -> Path:
    """Run the rules backend over LETTERS into ``out``; returns out/records.jsonl."""
    inputs = [str(require_letter(relative)) for relative in LETTERS]
    run_batch(inputs, BatchOptions(out=out, backend="rules", workers=1))
    return out / "records.jsonl"
