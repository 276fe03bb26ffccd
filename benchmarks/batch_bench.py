"""Batch throughput figures (printed; nothing is asserted).

    python -m benchmarks.batch_bench [--documents ../shared] [--latency 1.0] [--levels 1 8 32 128]
                                     [--rounds 4] [--copies 20] [--workers N] [--only llm|rules]

(a) The LLM path of ``extractor batch`` (read + rules in the pool, the LLM requests async, the
    grounding in the pool) against an OpenAI-compatible server on 127.0.0.1 that answers each
    request after ``--latency`` seconds, treated as a hosted endpoint (a letter's requests go at
    once): requests/s at concurrency 1, 8, 32 and 128 (``--concurrency`` counts requests), and
    that as a ratio of the ideal, concurrency / latency (the goal is at least 0.9 at 32).  Each
    level runs ``rounds x concurrency`` letters, so the ramp-up and the last, part-full round count.
(b) The rules backend over the 50 sample letters copied ``--copies`` times, against one
    process calling ``extractor.extract`` on each in a loop; and the same batch with an fsync
    after every line instead of at most one a second.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from evals.fixtures import DocumentsRootMissing, documents_root
from extractor import extract
from extractor.jobs import BatchOptions, run_batch

REPO = Path(__file__).resolve().parent.parent


def copies(folder: Path, count: int, documents: Path | None = None) -> list[str]:
    """``count`` letter files in ``folder``: the sample letters, copied round-robin."""
    try:
        letters = sorted((documents_root(documents) / "letters").glob("*.pdf"))
    except DocumentsRootMissing as missing:
        sys.exit(str(missing))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        source = letters[index % len(letters)]
        target = folder / f"{index:05d}-{source.name}"
        shutil.copyfile(source, target)
        paths.append(str(target))
    return paths


@contextmanager
def fake_endpoint(latency: float) -> Iterator[str]:
    """support.fake_openai's endpoint in its own process, so serving takes no time from the batch's."""
    server = subprocess.Popen(
        [sys.executable, "-m", "support.fake_openai", "--latency", str(latency)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait()


def timed_batch(paths: list[str], options: BatchOptions) -> tuple[float, float, int]:
    """Wall seconds of a fresh batch, the CPU seconds of this process (the event loop's), and the
    LLM requests its records say were made."""
    shutil.rmtree(options.out, ignore_errors=True)
    cpu, started = time.process_time(), time.perf_counter()
    summary = run_batch(paths, options)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if summary["status"]["done"] != len(paths):
        sys.exit(f"the batch did not finish every letter: {summary['status']}")
    with open(options.out / "records.jsonl", encoding="utf-8") as records:
        requests = sum(json.loads(line)["provenance"]["attempts"] for line in records)
    return seconds, cpu, requests


def bench_llm(
    work: Path,
    documents: Path | None,
    latency: float,
    levels: list[int],
    rounds: int,
    workers: int,
    backend: Literal["llm", "hybrid"],
) -> None:
    from extractor.llm import LLMConfig

    paths = copies(work / "llm", rounds * max(levels), documents)
    print(f"(a) --backend {backend}, fake endpoint latency {latency:g} s, {workers} workers")
    print("    concurrency  letters requests  seconds requests/s   ideal  ratio  loop CPU ms/request")
    with fake_endpoint(latency) as url:
        config = LLMConfig(base_url=url, model="fake", concurrent_calls=True)

        def options(concurrency: int) -> BatchOptions:
            return BatchOptions(
                out=work / "out-llm",
                backend=backend,
                llm_config=config,
                workers=workers,
                concurrency=concurrency,
            )

        timed_batch(paths[:4], options(4))  # warm-up: imports, the first connection
        for concurrency in levels:
            count = rounds * concurrency
            seconds, cpu, requests = timed_batch(paths[:count], options(concurrency))
            rate, ideal = requests / seconds, concurrency / latency
            print(
                f"    {concurrency:>11} {count:>8} {requests:>8} {seconds:>8.2f} {rate:>10.1f} {ideal:>7.1f} "
                f"{rate / ideal:>6.2f} {cpu / requests * 1000:>20.1f}"
            )


def bench_rules(work: Path, documents: Path | None, copies_each: int, workers: int) -> None:
    paths = copies(work / "rules", 50 * copies_each, documents)
    started = time.perf_counter()
    for path in paths:
        extract(path, backend="rules")
    loop = time.perf_counter() - started
    batch, _, _ = timed_batch(paths, BatchOptions(out=work / "out-rules", workers=workers))
    synced, _, _ = timed_batch(paths, BatchOptions(out=work / "out-rules", workers=workers, sync_interval=0))
    count = len(paths)
    print(f"(b) rules backend, {count} letters ({copies_each} copies of the 50), {workers} workers")
    print(f"    one process, extract() in a loop: {loop:6.2f} s {count / loop:7.1f} letters/s")
    print(
        f"    extractor batch:                  {batch:6.2f} s {count / batch:7.1f} letters/s"
        f"  ({loop / batch:.2f}x the loop)"
    )
    print(f"    extractor batch, fsync per line:  {synced:6.2f} s {count / synced:7.1f} letters/s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=Path, help="the folder holding letters/ (default: ../shared)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per LLM answer (1.0)")
    parser.add_argument(
        "--levels", type=int, nargs="+", default=[1, 8, 32, 128], help="concurrencies for (a)"
    )
    parser.add_argument("--rounds", type=int, default=4, help="letters per level = rounds x concurrency")
    parser.add_argument("--copies", type=int, default=20, help="copies of the 50 letters for (b) (20)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--backend", choices=["llm", "hybrid"], default="llm", help="for (a)")
    parser.add_argument("--only", choices=["llm", "rules"], help="run one part")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as scratch:
        work = Path(scratch)
        parts = {
            "llm": lambda: bench_llm(
                work, args.documents, args.latency, args.levels, args.rounds, args.workers, args.backend
            ),
            "rules": lambda: bench_rules(work, args.documents, args.copies, args.workers),
        }
        for name in [args.only] if args.only else list(parts):
            parts[name]()


if __name__ == "__main__":
    main()
