"""items.csv and summary.json, derived from the job's files at the end of a run.

They are rebuilt from records.jsonl and errors.jsonl rather than kept up to date as results
arrive, so after any completed run they agree with those files, whatever earlier runs that
were killed left behind.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from extractor.export import write_items_csv
from extractor.jobs.ledger import JsonLines, write_atomically
from extractor.pipeline import llm_failed
from extractor.schemas import Decision, Record, Usage


@dataclass
class RunCounts:
    """What this run did with its inputs, and the tokens its LLM calls used."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    """Already in records.jsonl or errors.jsonl from an earlier run."""
    prepared: int = 0
    """Written to the Batch API requests file (``--prepare-batch``)."""
    pending: int = 0
    """Without an answer in the Batch API results file (``--ingest``)."""
    usage: Usage = field(default_factory=Usage)

    @property
    def processed(self) -> int:
        return self.done + self.failed + self.prepared


@dataclass
class _Tally:
    records: int = 0
    needs_review: int = 0
    llm_failed: int = 0
    items: int = 0
    decisions: Counter[Decision] = field(default_factory=Counter)
    usage: Usage = field(default_factory=Usage)

    def counted(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            self.records += 1
            self.needs_review += record.needs_review
            self.llm_failed += llm_failed(record)
            self.items += len(record.determination.items)
            self.decisions.update(item.decision for item in record.determination.items)
            self.usage += record.provenance.usage
            yield record


def read_records(lines: Iterable[str]) -> Iterator[Record]:
    return (Record.model_validate_json(line) for line in lines)


def _path_order(record: Record) -> str:
    return record.document.path


def export_items(records_path: Path, csv_path: Path | None, lines: Iterable[str] | None = None) -> int:
    """Write items.csv from a records.jsonl, or from ``lines`` read from it (atomically; None: to
    stdout); returns the row count."""
    if not records_path.is_file():
        raise FileNotFoundError(records_path)
    # All read first: a bad line gives an error, not half a CSV; rows in path order.
    read = JsonLines(records_path).lines() if lines is None else lines
    records = sorted(read_records(read), key=_path_order)
    if csv_path is None:
        return write_items_csv(records, sys.stdout)
    return write_atomically(csv_path, lambda stream: write_items_csv(records, stream))


def write_outputs(
    out: Path, *, inputs: int, backend: str, counts: RunCounts, seconds: float
) -> dict[str, Any]:
    """Rebuild out/items.csv and out/summary.json; returns the summary."""
    tally = _Tally()
    # records.jsonl is in completion order (each line appended as its letter finishes);
    # items.csv is in path order, so identical runs give identical files.
    records = sorted(tally.counted(read_records(JsonLines(out / "records.jsonl").lines())), key=_path_order)
    write_atomically(out / "items.csv", lambda stream: write_items_csv(records, stream))
    errors = Counter(json.loads(line)["error"]["type"] for line in JsonLines(out / "errors.jsonl").lines())
    status = asdict(counts)
    del status["usage"]
    summary = {
        "backend": backend,
        "inputs": inputs,
        "status": status,
        "records": tally.records,
        "errors": sum(errors.values()),
        "needs_review": tally.needs_review,
        "llm_failed": tally.llm_failed,
        "items": tally.items,
        "upheld": tally.decisions[Decision.UPHELD],
        "overturned": tally.decisions[Decision.OVERTURNED],
        "errors_by_type": dict(sorted(errors.items())),
        "tokens": tally.usage.model_dump(),
        "run_tokens": counts.usage.model_dump(),
        "seconds": round(seconds, 3),
        "letters_per_second": round(counts.processed / seconds, 2) if seconds > 0 else None,
    }
    write_atomically(out / "summary.json", lambda stream: stream.write(json.dumps(summary, indent=2) + "\n"))
    return summary
