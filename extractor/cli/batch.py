"""``extractor batch``: thousands of letters into one resumable folder.

The work is in :mod:`extractor.jobs`; this module is its command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractor.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_backend_option,
    add_llm_options,
    chosen_backend,
    fail,
    positive,
    unreachable_endpoint,
)
from extractor.pipeline import BackendChoice

if TYPE_CHECKING:  # the batch machinery loads when a batch runs, not for every command
    from extractor.jobs import BatchOptions

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
redoes the errors.  With --backend hybrid, a letter whose LLM pass fails after its retries
keeps its rules record, flagged with a check naming the failure; --retry-llm redoes exactly
those letters later.

Exit status: 0 when every input gave a record; 2 when any gave none (each such input is a line
of errors.jsonl, counted in summary.json, and every other record is still written), or when
the job cannot start (an INPUT naming nothing, an unreachable LLM endpoint, DIR taken by
another batch); 64 for a wrong command line; 130 or 143 when interrupted (resumable).

Scale-out: --prepare-batch writes the LLM requests as an OpenAI Batch API input file (vLLM's
run-batch reads it too) instead of sending them; --ingest, with the same INPUTs and DIR,
turns the engine's output file into records with the same cross-check.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "batch",
        help="extract folders or lists of letters into a resumable output folder",
        description=_BATCH_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="a letter, a folder, or @LIST")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="the job's folder")
    add_backend_option(p)
    p.add_argument("--concurrency", type=positive, default=8, metavar="N", help="LLM requests at once (8)")
    p.add_argument(
        "--workers", type=positive, default=os.cpu_count() or 1, metavar="N",
        help="processes reading letters and running the rules (default: one per CPU)",
    )  # fmt: skip
    p.add_argument("--retry-errors", action="store_true", help="redo the inputs in errors.jsonl")
    p.add_argument(
        "--retry-llm",
        action="store_true",
        help="redo the hybrid records whose LLM pass failed (kept meanwhile as flagged rules records)",
    )
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


def _options(args: argparse.Namespace) -> BatchOptions:
    from extractor.jobs import BatchOptions

    scale_out = args.prepare_batch or args.ingest  # these need no endpoint, so auto is hybrid
    requested: BackendChoice = "hybrid" if scale_out and args.backend == "auto" else args.backend
    backend, config = chosen_backend(args, requested)
    return BatchOptions(
        out=args.out,
        backend=backend,
        llm_config=config,
        workers=args.workers,
        concurrency=args.concurrency,
        retry_errors=args.retry_errors,
        retry_llm=args.retry_llm,
        progress=not args.quiet and sys.stderr.isatty(),
        prepare_batch=args.prepare_batch,
        ingest=args.ingest,
    )


def _cmd_batch(args: argparse.Namespace) -> int:
    from extractor.errors import LedgerError, ResultsFileError, UnsafeTarget
    from extractor.jobs import BatchStopped, expand, resume_command, run_batch

    try:
        paths = expand(args.inputs)
        options = _options(args)
    except ValueError as error:  # an INPUT that names nothing, or flags that do not go together
        return fail("batch", error)
    config = options.llm_config
    if config is not None and not (options.prepare_batch or options.ingest):
        unreachable = unreachable_endpoint(config)
        if unreachable:
            return fail("batch", f"{unreachable}; nothing was started")
    try:
        summary = run_batch(paths, options)
    except BatchStopped as stopped:  # Ctrl-C or SIGTERM: said even with --quiet
        print(f"extractor batch: {stopped}", file=sys.stderr)
        print(f"extractor batch: to resume, run: {resume_command(sys.argv)}", file=sys.stderr)
        return stopped.exit_status
    except (LedgerError, ResultsFileError, UnsafeTarget, OSError) as error:
        return fail("batch", error)
    if not args.quiet:
        print(_closing_line(summary, options), file=sys.stderr)
    return EXIT_BAD_INPUT if summary["errors"] else EXIT_OK


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
        + (
            f"; {failed} kept without their LLM pass: rerun with --retry-llm when the endpoint is back"
            if (failed := summary.get("llm_failed"))
            else ""
        )
    )
