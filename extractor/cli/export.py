"""``extractor export``: items.csv, or the analyst tables (DuckDB, Parquet, CSV), from a batch's
records as reviewed (the corrections in reviews.jsonl applied, unless ``--no-reviews``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from extractor.cli.options import EXIT_OK, EXIT_USAGE, add_no_reviews_option, fail, not_records, unwritable

FORMATS = ("duckdb", "parquet", "csv")


def _unusable_target(to: str, target: Path) -> str | None:
    """Why the tables cannot go to ``target``, said before any work: a database file is written
    like every other file (``unwritable``); a batch's own folder is refused, since its items.csv
    (one wide row per item) would be replaced by the normalised table of that name."""
    if to == "duckdb":
        return unwritable(target)
    if target.exists() and not target.is_dir():
        return f"{target} is a file; --to {to} writes a folder of tables"
    if (target / "records.jsonl").exists():
        return f"{target} is a batch's folder; write the {to} tables to a folder of their own"
    return None


def _reviewed(path: Path, lines: list[str], apply: bool) -> list[str]:
    """The records' lines as reviewed (``analytics.reviews``), said on stderr."""
    from extractor.analytics.reviews import note, reviewed_lines

    lines, summary = reviewed_lines(path, lines, apply)
    if (said := note(summary)) is not None:
        print(f"extractor export: {said}", file=sys.stderr)
    return lines


def _export_tables(path: Path, to: str, target: Path, apply: bool) -> int:
    from extractor.analytics.export import export
    from extractor.analytics.tables import NotRecords, read_lines
    from extractor.errors import UnsafeTarget

    if (why := _unusable_target(to, target)) is not None:
        return fail("export", why)
    try:
        counts = export(path, to, target, _reviewed(path, read_lines(path), apply))  # type: ignore[arg-type]
    except NotRecords:
        return fail("export", not_records(path))
    except (OSError, UnsafeTarget) as error:
        return fail("export", error)
    tables = ", ".join(f"{rows} {name}" for name, rows in counts.items())
    print(f"extractor export: {tables} -> {target}", file=sys.stderr)
    return EXIT_OK


def _export_items(path: Path, csv: str, apply: bool) -> int:
    from extractor.errors import UnsafeTarget
    from extractor.jobs import export_items
    from extractor.jobs.ledger import JsonLines

    if csv != "-" and (why := unwritable(Path(csv))) is not None:
        return fail("export", why)
    try:
        lines = _reviewed(path, list(JsonLines(path).lines()), apply)
        rows = export_items(path, None if csv == "-" else Path(csv), lines)
    except FileNotFoundError:
        return fail("export", f"no such file: {path}")
    except (ValidationError, UnicodeDecodeError):
        return fail("export", not_records(path))
    except UnsafeTarget as error:
        return fail("export", error)
    if csv != "-":
        print(f"extractor export: {rows} items -> {csv}", file=sys.stderr)
    return EXIT_OK


def _export_reviewed(path: Path, out: str) -> int:
    """The records with the corrections in reviews.jsonl beside them applied (``extractor review``)."""
    from extractor.cli.options import output
    from extractor.review.batch import read_batch
    from extractor.review.corrections import CorrectionError, ReviewLogError, reviews_beside, write_reviewed

    try:
        records, log = read_batch(path), reviews_beside(path)
        with output(out) as stream:
            reviewed = write_reviewed(records, log, stream)
    except FileNotFoundError:
        return fail("export", f"no such file: {path}")
    except (ValidationError, UnicodeDecodeError):
        return fail("export", not_records(path))
    except CorrectionError as error:
        return fail("export", f"{log.path}: {error}")
    except ReviewLogError as error:
        return fail("export", error)
    print(f"extractor export: {len(records)} records, {reviewed} reviewed -> {out}", file=sys.stderr)
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from extractor.review.batch import records_file
    from extractor.review.corrections import ReviewLogError

    try:
        path = records_file(args.records)
    except FileNotFoundError as missing:
        return fail("export", missing)
    if args.reviewed is not None:
        if not args.reviews:
            print("extractor export: error: --reviewed applies the reviews; --no-reviews leaves them out",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
        return _export_reviewed(path, args.reviewed)
    try:
        if args.to is None:
            return _export_items(path, args.csv, args.reviews)
        to, target = args.to
        if to not in FORMATS:
            print(f"extractor export: error: --to {to}: choose one of {', '.join(FORMATS)}", file=sys.stderr)
            return EXIT_USAGE
        return _export_tables(path, to, Path(target), args.reviews)
    except ReviewLogError as error:
        return fail("export", error)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="write items.csv, or the analyst tables, from a records.jsonl",
        description="items.csv (one row per item; the default), or with --to the normalised tables "
        "letters, items, guidelines, diagnoses, checks and the view items_wide.",
    )
    p.add_argument(
        "records", type=Path, metavar="OUT_DIR|RECORDS.jsonl", help="a batch's folder or its records"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--csv", default="-", metavar="ITEMS.csv", help="where to write items.csv (default: stdout)"
    )
    where.add_argument(
        "--to",
        nargs=2,
        metavar=("FORMAT", "TARGET"),
        help="duckdb FILE (one database), parquet DIR or csv DIR (one file per table)",
    )
    where.add_argument(
        "--reviewed",
        nargs="?",
        const="-",
        metavar="OUT.jsonl",
        help="the records as JSON lines with the corrections from `extractor review` "
        "(reviews.jsonl beside them) applied (default: stdout)",
    )
    add_no_reviews_option(p)
    p.set_defaults(func=_cmd_export)
