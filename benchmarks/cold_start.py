"""Cold start of ``extractor extract --backend rules`` beside the bare imports it cannot avoid.

    python benchmarks/cold_start.py [--letter ../shared/letters/CM16-0213037.pdf] [--rounds 7]

Each command runs in a fresh interpreter, alternating, so both see the same machine; the
figures are medians.  Prints the ratio of the two (goal: at most 3); asserts nothing.  The
ICD-10-CM index (extractor.codeset) is built before the first round: a cold start reads it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASELINE = [sys.executable, "-c", "import pydantic, pypdfium2"]
GOAL = 3.0
LETTER = Path(__file__).resolve().parents[2] / "shared" / "letters" / "CM16-0213037.pdf"


def seconds(command: list[str]) -> float:
    """Wall seconds of one run of ``command``, its output thrown away."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def cold_start(letter: Path, rounds: int) -> tuple[float, float]:
    """Median seconds of the bare imports and of extracting ``letter``, run in turns."""
    extract = [sys.executable, "-m", "extractor", "extract", "--backend", "rules", str(letter)]
    seconds(BASELINE), seconds(extract)  # warm the file cache (and build the index) for both
    base, full = [], []
    for _ in range(rounds):
        base.append(seconds(BASELINE))
        full.append(seconds(extract))
    return statistics.median(base), statistics.median(full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--letter", type=Path, default=LETTER)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    base_s, full_s = cold_start(args.letter, args.rounds)
    print(f"python -c 'import pydantic, pypdfium2'   {base_s * 1000:7.0f} ms (median of {args.rounds})")
    print(f"extractor extract --backend rules LETTER {full_s * 1000:7.0f} ms (median of {args.rounds})")
    print(f"ratio                                    {full_s / base_s:7.2f}  (goal: at most {GOAL:g})")


if __name__ == "__main__":
    main()
