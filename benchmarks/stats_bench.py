"""``extractor stats`` over 10,000 records: the 50 shared letters' records repeated.

    python benchmarks/stats_bench.py [--letters ../shared/letters] [--records 10000] [--rounds 3]

Extracts the letters once with the rules backend, writes their records repeated to a temporary
records.jsonl, then times the whole command in a fresh interpreter (imports included), for the
terminal tables and for the HTML report. Prints median wall-clock and CPU seconds (goal: under
5 s); asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from extractor import extract
from extractor.jobs.inputs import expand


def _seconds(command: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of one run; on a busy machine the CPU figure is
    the steadier of the two."""
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return time.perf_counter() - started, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    letters = Path(__file__).resolve().parents[2] / "shared" / "letters"
    parser.add_argument("--letters", type=Path, default=letters)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = [extract(path).model_dump_json() + "\n" for path in expand([str(args.letters)])]
    with tempfile.TemporaryDirectory() as folder:
        records = Path(folder) / "records.jsonl"
        with open(records, "w", encoding="utf-8") as out:
            out.writelines(itertools.islice(itertools.cycle(lines), args.records))
        stats = [sys.executable, "-m", "extractor", "stats", str(records)]
        runs = {"terminal": stats, "--html": [*stats, "--html", str(Path(folder) / "report.html")]}
        _seconds(stats)  # warm the file cache
        print(f"{args.records} records ({len(lines)} letters repeated, {records.stat().st_size >> 20} MB)")
        for name, command in runs.items():
            wall, cpu = zip(*(_seconds(command) for _ in range(args.rounds)), strict=True)
            print(
                f"extractor stats {name:<9} {statistics.median(wall):6.2f} s wall, "
                f"{statistics.median(cpu):6.2f} s CPU (medians of {args.rounds}; goal: under 5 s)"
            )


if __name__ == "__main__":
    main()
