"""Letters/s for PDF -> text, text -> record, and end to end, over the shared letters.

    python benchmarks/extract_bench.py [--documents ../shared] [--rounds 5]

Prints figures, asserts nothing: the end-to-end rate is reported as a ratio of the bare
PDF text rate measured in the same run (goal: at least 0.8).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from extractor.pipeline import finish, read
from extractor.reading import read_bytes


def _rate(label: str, count: int, work: Callable[[], None], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    rate = count / best
    print(f"{label:<28} {rate:9.1f} letters/s  ({best * 1000 / count:.2f} ms/letter, best of {rounds})")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    files = sorted((args.documents / "letters").glob("*.pdf"))
    blobs = [(str(path), path.read_bytes()) for path in files]
    texts = [read_bytes(data, name) for name, data in blobs]
    print(f"{len(files)} letters from {args.documents / 'letters'}")

    def pdf_to_text() -> None:
        for name, data in blobs:
            read_bytes(data, name)

    def text_to_record() -> None:
        for source in texts:
            finish(read(source))

    def end_to_end() -> None:
        for name, data in blobs:
            finish(read(read_bytes(data, name)))

    bare = _rate("PDF -> text", len(files), pdf_to_text, args.rounds)
    _rate("text -> record (rules)", len(files), text_to_record, args.rounds)
    whole = _rate("end to end (rules)", len(files), end_to_end, args.rounds)
    print(f"end to end / bare PDF text: {whole / bare:.2f}x (goal >= 0.8x)")


if __name__ == "__main__":
    main()
