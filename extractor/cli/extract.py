"""``extractor extract``: letters in, records out (JSON, JSON lines or an items CSV).

Output shapes, whatever the letters give: ``json`` is one record object for one FILE (or
``-``) and an array for anything else (several FILEs, a folder); ``jsonl`` is one record a line;
``csv`` is items.csv's rows.  A letter that gives no record is one line on stderr and no
output, and the exit status is then 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from extractor.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_backend_option,
    add_llm_options,
    add_output_option,
    begin_source,
    chosen_backend,
    fail,
    letters,
    output,
    unreachable_endpoint,
    unusable_output,
)
from extractor.errors import ExtractionError, fail_line
from extractor.export import write_items_csv
from extractor.llm.config import PROGRESS_LOGGER
from extractor.pipeline import BACKENDS, extract, llm_failure
from extractor.reading import read_ahead
from extractor.schemas import Backend, Record

if TYPE_CHECKING:
    from extractor.llm.config import LLMConfig


def _one_object(arguments: list[str]) -> bool:
    """``--format json`` gives an object for exactly one letter named (a file, or ``-``)."""
    return len(arguments) == 1 and not os.path.isdir(arguments[0])


class _Asking(logging.Handler):
    """A hybrid letter takes minutes: on a terminal, which part the model is being asked about."""

    letter = ""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"extractor extract: {self.letter}: {record.getMessage()}", file=sys.stderr, flush=True)


def _asking(backend: Backend, quiet: bool) -> _Asking | None:
    """The handler that says so, when stderr is a terminal and a model is asked; else None."""
    if not BACKENDS[backend].asks or quiet or not sys.stderr.isatty():
        return None
    handler = _Asking()
    progress = logging.getLogger(PROGRESS_LOGGER)
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    progress.propagate = False  # said once, whatever -v
    return handler


def _records(
    names: list[str], backend: Backend, config: LLMConfig | None, failed: list[str], asking: _Asking | None
) -> Iterator[Record]:
    for name, read in read_ahead(names, begin_source):
        if asking is not None:
            asking.letter = name
        try:
            record = extract(read(), backend=backend, llm_config=config, on_llm_error="keep_rules")
        except ExtractionError as error:
            print(fail_line(name, error), file=sys.stderr)
            failed.append(name)
            continue
        if failure := llm_failure(record):
            print(f"{name}: {failure}; the rules record is written, flagged for review", file=sys.stderr)
        yield record


def _cmd_extract(args: argparse.Namespace) -> int:
    if (why := unusable_output(args.output)) is not None:
        return fail("extract", why)
    backend, config = chosen_backend(args, args.backend, quiet=args.quiet)
    if config is not None and (unreachable := unreachable_endpoint(config)):
        return fail("extract", unreachable)
    names, failed = letters(args.files)
    records = _records(names, backend, config, failed, _asking(backend, args.quiet))
    with output(args.output) as out:
        if args.format == "jsonl":
            for record in records:
                out.write(record.model_dump_json() + "\n")
                out.flush()
        elif args.format == "csv":
            write_items_csv(list(records), out)
        else:
            payload = [record.model_dump(mode="json") for record in records]
            if _one_object(args.files):
                if payload:
                    out.write(json.dumps(payload[0], indent=2) + "\n")
            else:
                out.write(json.dumps(payload, indent=2) + "\n")
    return EXIT_BAD_INPUT if failed else EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "extract",
        help="extract records from letters (PDF or text)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="a letter (.pdf or .txt), a folder of them, or - for stdin"
    )
    add_backend_option(p)
    p.add_argument(
        "--format",
        choices=["json", "jsonl", "csv"],
        default="json",
        help="json: an object for one FILE, else an array; jsonl: a record a line; csv: a row per item",
    )
    add_output_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no notes on stderr (errors are still said)")
    add_llm_options(p)
    p.set_defaults(func=_cmd_extract)
