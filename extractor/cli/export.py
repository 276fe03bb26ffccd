"""``extractor export``: items.csv from a batch's records.jsonl."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from extractor.cli.options import EXIT_OK, fail


def _cmd_export(args: argparse.Namespace) -> int:
    from extractor.jobs import export_items

    try:
        rows = export_items(args.records, None if args.csv == "-" else Path(args.csv))
    except FileNotFoundError:
        return fail("export", f"no such file: {args.records}")
    except ValidationError:
        return fail("export", f"{args.records} holds a line that is not a record")
    if args.csv != "-":
        print(f"extractor export: {rows} items -> {args.csv}", file=sys.stderr)
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="write items.csv from a records.jsonl")
    p.add_argument("records", type=Path, metavar="RECORDS.jsonl")
    p.add_argument("--csv", default="-", metavar="ITEMS.csv", help="where to write it (default: stdout)")
    p.set_defaults(func=_cmd_export)
