"""How many damaged letters give a silently wrong record: cuts inside the decisions, and whole letters.

    python benchmarks/wholeness_bench.py [--documents ../shared] [--cuts 20] [--seed 1]

Cuts every shared letter at ``--cuts`` random points inside its decisions section and counts
each outcome: a typed error (nothing left to read), a record flagged as cut off, or a silent
record (no flag).  The whole letters are run too (any flag there is a false alarm).  Prints
figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

from extractor import extract
from extractor.errors import ExtractionError
from extractor.layout import item_blocks, split_sections
from extractor.reading import read_path


def outcome(text: str) -> str:
    try:
        record = extract(text)
    except ExtractionError:
        return "typed error"
    if any(check.note and check.note.startswith("the letter looks cut off") for check in record.checks):
        return "flagged"
    return "silent"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--cuts", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    root = args.documents
    paths = sorted((root / "letters").glob("*.pdf")) + sorted((root / "seeds").glob("*.txt"))
    rng = random.Random(args.seed)
    whole: Counter[str] = Counter()
    cut: Counter[str] = Counter()
    at_item_end = 0
    for path in paths:
        text = read_path(path).text
        whole[outcome(text)] += 1
        start, end = split_sections(text).parts["decisions"]
        ends = {block.end for block in item_blocks(text, (start, end))}
        for _ in range(args.cuts):
            point = rng.randrange(start, end - 1)
            result = outcome(text[:point])
            cut[result] += 1
            if result == "silent" and len(text[:point].rstrip()) + 1 in ends:
                at_item_end += 1
    print(f"{len(paths)} whole letters: {dict(whole)}")
    print(f"{sum(cut.values())} cuts inside the decisions: {dict(cut)}")
    print(f"  silent cuts that fall exactly where an item ends: {at_item_end}")


if __name__ == "__main__":
    main()
