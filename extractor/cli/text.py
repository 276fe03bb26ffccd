"""``extractor text``: a letter's text exactly as the extractor reads it (evidence offsets index it)."""

from __future__ import annotations

import argparse
import sys

from extractor.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_output_option,
    fail,
    letters,
    output,
    read_source,
    unusable_output,
)
from extractor.errors import ExtractionError, fail_line


def _cmd_text(args: argparse.Namespace) -> int:
    if (why := unusable_output(args.output)) is not None:
        return fail("text", why)
    names, empty = letters(args.files)
    failed = len(empty)
    with output(args.output) as out:
        for name in names:
            try:
                text = read_source(name).text
            except ExtractionError as error:
                print(fail_line(name, error), file=sys.stderr)
                failed += 1
                continue
            if len(names) > 1:
                out.write(f"==> {name} <==\n")  # as head(1) marks files
            out.write(text + "\n")
    return EXIT_BAD_INPUT if failed else EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("text", help="print a letter's text as the extractor reads it")
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="a letter (.pdf or .txt), a folder of them, or - for stdin"
    )
    add_output_option(p)
    p.set_defaults(func=_cmd_text)
