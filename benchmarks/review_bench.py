"""How fast the review page moves: a record's first open and its pages, then the same again.

    python -m benchmarks.review_bench [--letter ../shared/letters/CM16-0248698.pdf] [--rounds 5]

Serves a one-letter batch (by default the 21-item letter) on 127.0.0.1 and times, over HTTP
as the page asks: the record (fields, evidence boxes: the letter is read and its characters
boxed once) and every page image (rendered once), first on a fresh server, then from its
caches.  Medians; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from extractor.jobs import BatchOptions, run_batch
from extractor.review.batch import read_batch
from tests.review_server import serving


def _seconds(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url) as response:
        response.read()
    return time.perf_counter() - started


def _round(records: Path, pages: int) -> tuple[float, float, float, float]:
    """(record, all pages) on a fresh server, then (record, all pages) again."""
    with serving(records) as url:
        record = url + "api/records/0"
        images = [url + f"api/records/0/pages/{page}.png" for page in range(pages)]
        first = _seconds(record), sum(_seconds(image) for image in images)
        again = _seconds(record), sum(_seconds(image) for image in images)
    return (*first, *again)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(__file__).resolve().parents[2] / "shared" / "letters" / "CM16-0248698.pdf"
    parser.add_argument("--letter", type=Path, default=default)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run_batch([str(args.letter.resolve())], BatchOptions(out=Path(folder), backend="rules", workers=1))
        records = Path(folder) / "records.jsonl"
        record = read_batch(records)[0]
        pages = record.document.pages or 0
        rounds = [_round(records, pages) for _ in range(args.rounds)]
    medians = [statistics.median(column) * 1000 for column in zip(*rounds, strict=True)]
    print(f"{args.letter.name}: {len(record.determination.items)} items, {pages} pages, {args.rounds} rounds")
    print(f"first open: record {medians[0]:.0f} ms, {pages} pages {medians[1]:.0f} ms")
    print(f"again:      record {medians[2]:.0f} ms, {pages} pages {medians[3]:.0f} ms")


if __name__ == "__main__":
    main()
