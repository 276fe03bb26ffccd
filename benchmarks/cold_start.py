"""Cold start of ``extractor extract --backend rules`` beside the bare imports it cannot avoid.

    python benchmarks/cold_start.py [--letter ../shared/letters/CM16-0213037.pdf] [--rounds 7]

Each command runs in a fresh interpreter, alternating, so both see the same machine; the
figures are medians.  Prints the ratio of the two (goal: at most 4); asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASELINE = [sys.executable, "-c", "import pydantic, pypdfium2"]


def _seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(__file__).resolve().parents[2] / "shared" / "letters" / "CM16-0213037.pdf"
    parser.add_argument("--letter", type=Path, default=default)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    extract = [sys.executable, "-m", "extractor", "extract", "--backend", "rules", str(args.letter)]
    _seconds(BASELINE), _seconds(extract)  # warm the file cache for both
    base, full = [], []
    for _ in range(args.rounds):
        base.append(_seconds(BASELINE))
        full.append(_seconds(extract))
    base_s, full_s = statistics.median(base), statistics.median(full)
    print(f"python -c 'import pydantic, pypdfium2'   {base_s * 1000:7.0f} ms (median of {args.rounds})")
    print(f"extractor extract --backend rules LETTER {full_s * 1000:7.0f} ms (median of {args.rounds})")
    print(f"ratio                                    {full_s / base_s:7.2f}  (goal: at most 4)")


if __name__ == "__main__":
    main()
