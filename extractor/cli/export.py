"""``extractor export``: items.csv from a batch's records.jsonl."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from extractor.cli.options import EXIT_OK, fail


def _not_records(path: Path) -> str:
    """Why ``path`` is not a records.jsonl, in words that say what to pass instead."""
    try:
        with path.open(encoding="utf-8") as lines:
            first = json.loads(next((line for line in lines if line.strip()), "{}"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return f"{path} is not a records.jsonl (not JSON lines)"
    if isinstance(first, dict) and "error" in first and "determination" not in first:
        return f"{path} is an errors file (one failed letter a line); export reads a batch's records.jsonl"
    return f"{path} holds a line that is not a record"


def _cmd_export(args: argparse.Namespace) -> int:
    from extractor.errors import UnsafeTarget
    from extractor.jobs import export_items

    path: Path = args.records
    if path.is_dir():
        return fail("export", f"{path} is a folder; give the records.jsonl in it")
    if args.reviewed is not None:
        return _export_reviewed(path, args.reviewed)
    try:
        rows = export_items(path, None if args.csv == "-" else Path(args.csv))
    except FileNotFoundError:
        return fail("export", f"no such file: {path}")
    except (ValidationError, UnicodeDecodeError):
        return fail("export", _not_records(path))
    except UnsafeTarget as error:
        return fail("export", error)
    if args.csv != "-":
        print(f"extractor export: {rows} items -> {args.csv}", file=sys.stderr)
    return EXIT_OK


def _export_reviewed(path: Path, out: str) -> int:
    """The records with the corrections in reviews.jsonl beside them applied (``extractor review``)."""
    from extractor.cli.options import output
    from extractor.review.batch import read_batch
    from extractor.review.corrections import CorrectionError, reviews_beside, write_reviewed

    try:
        records, log = read_batch(path), reviews_beside(path)
        with output(out) as stream:
            reviewed = write_reviewed(records, log, stream)
    except FileNotFoundError:
        return fail("export", f"no such file: {path}")
    except (ValidationError, UnicodeDecodeError):
        return fail("export", _not_records(path))
    except CorrectionError as error:
        return fail("export", f"{log.path}: {error}")
    print(f"extractor export: {len(records)} records, {reviewed} reviewed -> {out}", file=sys.stderr)
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="write items.csv from a records.jsonl")
    p.add_argument("records", type=Path, metavar="RECORDS.jsonl")
    p.add_argument("--csv", default="-", metavar="ITEMS.csv", help="where to write it (default: stdout)")
    p.add_argument(
        "--reviewed",
        nargs="?",
        const="-",
        metavar="OUT.jsonl",
        help="instead, write the records as JSON lines with the corrections from `extractor review` "
        "(reviews.jsonl beside them) applied (default: stdout)",
    )
    p.set_defaults(func=_cmd_export)
