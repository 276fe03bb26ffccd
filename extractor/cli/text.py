"""``extractor text``: a letter's text exactly as the extractor reads it (evidence offsets index it)."""

from __future__ import annotations

import argparse
import sys

from extractor.cli.options import EXIT_BAD_INPUT, EXIT_OK
from extractor.errors import ExtractionError, fail_line
from extractor.reading import read_path


def _cmd_text(args: argparse.Namespace) -> int:
    try:
        sys.stdout.write(read_path(args.file).text + "\n")
    except ExtractionError as error:
        print(fail_line(args.file, error), file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("text", help="print a letter's text as the extractor reads it")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=_cmd_text)
