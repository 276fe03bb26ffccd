"""``extractor batch`` and ``extractor export``: thousands of letters into one resumable folder.

The work is in :mod:`extractor.jobs`; this module is its command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from extractor.cli import EXIT_BAD_INPUT, add_llm_options, announce_backend, llm_config
from extractor.jobs import (
    BatchOptions,
    BatchStopped,
    LedgerError,
    expand,
    export_items,
    resume_command,
    run_batch,
)
from extractor.jobs.inputs import ResultsFileError
from extractor.pipeline import BackendName, resolve_backend

_BATCH_DESCRIPTION = """\
Extract many letters into DIR: records.jsonl and errors.jsonl (one line per input, appended
as each letter finishes), then items.csv and summary.json, rebuilt at the end of the run.

INPUT is a letter (.pdf or .txt), a folder (every *.pdf and *.txt below it, recursively, in
sorted order), or @LIST: a text file naming one file or folder per line, relative to the
current directory (blank lines and # comments skipped).  The @ marks a list because a letter
can be a .txt file too.

Run the same command again after a crash or kill: inputs already in records.jsonl or
errors.jsonl (same path and same content) are skipped, a line torn by the crash is dropped,
and every input ends up exactly once in records.jsonl or errors.jsonl.  --retry-errors
redoes the errors.  The exit status is 0 when the run finished, whatever the letters gave.

Scale-out: --prepare-batch writes the LLM requests as an OpenAI Batch API input file (vLLM's
run-batch reads it too) instead of sending them; --ingest, with the same INPUTs and DIR,
turns the engine's output file into records with the same cross-check.
"""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``batch`` and ``export`` commands to the ``extractor`` command line."""
    p = sub.add_parser(
        "batch",
        help="extract folders or lists of letters into a resumable output folder",
        description=_BATCH_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="a letter, a folder, or @LIST")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="the job's folder")
    p.add_argument("--backend", choices=["rules", "llm", "hybrid", "auto"], default="auto")
    p.add_argument("--concurrency", type=_positive, default=8, metavar="N", help="LLM calls at once (8)")
    p.add_argument(
        "--workers", type=_positive, default=os.cpu_count() or 1, metavar="N",
        help="processes reading letters and running the rules (default: one per CPU)",
    )  # fmt: skip
    p.add_argument("--retry-errors", action="store_true", help="redo the inputs in errors.jsonl")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no closing line")
    scale_out = p.add_mutually_exclusive_group()
    scale_out.add_argument(
        "--prepare-batch", type=Path, metavar="REQUESTS.jsonl", help="write Batch API requests, call nothing"
    )
    scale_out.add_argument(
        "--ingest", type=Path, metavar="RESULTS.jsonl", help="records from a Batch API output file"
    )
    add_llm_options(p)
    p.set_defaults(func=_cmd_batch)

    p = sub.add_parser("export", help="write items.csv from a records.jsonl")
    p.add_argument("records", type=Path, metavar="RECORDS.jsonl")
    p.add_argument("--csv", default="-", metavar="ITEMS.csv", help="where to write it (default: stdout)")
    p.set_defaults(func=_cmd_export)


def _fail(command: str, message: object) -> int:
    print(f"extractor {command}: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _options(args: argparse.Namespace) -> BatchOptions:
    config = None if args.backend == "rules" else llm_config(args)  # rules: skip importing the LLM stack
    scale_out = args.prepare_batch or args.ingest  # these need no endpoint, so auto is hybrid
    requested: BackendName = "hybrid" if scale_out and args.backend == "auto" else args.backend
    backend = resolve_backend(announce_backend(requested, config), config)  # the 2nd narrows the type
    if backend != "rules" and config is None:
        from extractor.llm import LLMConfig

        config = LLMConfig.from_env()
    return BatchOptions(
        out=args.out,
        backend=backend,
        llm_config=config if backend != "rules" else None,
        workers=args.workers,
        concurrency=args.concurrency,
        retry_errors=args.retry_errors,
        progress=not args.quiet and sys.stderr.isatty(),
        prepare_batch=args.prepare_batch,
        ingest=args.ingest,
    )


def _cmd_batch(args: argparse.Namespace) -> int:
    try:
        paths = expand(args.inputs)
        options = _options(args)
    except ValueError as error:  # an INPUT that names nothing, or flags that do not go together
        return _fail("batch", error)
    try:
        summary = run_batch(paths, options)
    except BatchStopped as stopped:  # Ctrl-C or SIGTERM: said even with --quiet
        print(f"extractor batch: {stopped}", file=sys.stderr)
        print(f"extractor batch: to resume, run: {resume_command(sys.argv)}", file=sys.stderr)
        return stopped.exit_status
    except (LedgerError, ResultsFileError, OSError) as error:
        return _fail("batch", error)
    if not args.quiet:
        print(_closing_line(summary, options), file=sys.stderr)
    return 0


def _closing_line(summary: dict[str, Any], options: BatchOptions) -> str:
    status = summary["status"]
    done = ", ".join(f"{count} {name}" for name, count in status.items() if count or name == "done")
    rate = summary["letters_per_second"]
    where = options.prepare_batch or options.out
    return (
        f"extractor batch: {summary['inputs']} inputs: {done} in {summary['seconds']:.1f} s"
        f"{f' ({rate:.1f} letters/s)' if rate else ''}; {summary['items']} items "
        f"({summary['upheld']} upheld, {summary['overturned']} overturned), "
        f"{summary['needs_review']} records need review -> {where}"
    )


def _cmd_export(args: argparse.Namespace) -> int:
    try:
        rows = export_items(args.records, None if args.csv == "-" else Path(args.csv))
    except FileNotFoundError:
        return _fail("export", f"no such file: {args.records}")
    except ValidationError:
        return _fail("export", f"{args.records} holds a line that is not a record")
    if args.csv != "-":
        print(f"extractor export: {rows} items -> {args.csv}", file=sys.stderr)
    return 0
