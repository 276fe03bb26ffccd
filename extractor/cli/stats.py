"""``extractor stats``: overturn rates and the rest of the analyst report, in the terminal or as HTML."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from extractor.analytics.stats import Report

from extractor.cli.options import EXIT_OK, EXIT_USAGE, add_no_reviews_option, fail, not_records, unwritable


def fields(text: str) -> list[str]:
    """An argparse type: one or two comma-separated field names."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not 1 <= len(names) <= 2:
        raise argparse.ArgumentTypeError("give one field or two separated by a comma")
    return names


def _for_scripts(made: Report, as_json: bool) -> None:
    """``--json`` or ``--csv``, on stdout."""
    from extractor.analytics.formats import as_json as json_of
    from extractor.analytics.formats import write_csv

    if as_json:
        json.dump(json_of(made), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        write_csv(made, sys.stdout)


def _cmd_stats(args: argparse.Namespace) -> int:
    from rich.console import Console

    from extractor.analytics import terminal
    from extractor.analytics.reviews import note
    from extractor.analytics.stats import StatsError, records_and_errors, report
    from extractor.analytics.tables import NotRecords
    from extractor.review.corrections import ReviewLogError

    source: Path = args.source
    if args.html is not None and (why := unwritable(args.html)) is not None:
        return fail("stats", why)
    try:
        made = report(source, where=args.where, by=args.by, reviews=args.reviews)
    except FileNotFoundError as missing:
        return fail("stats", f"no such file: {missing}")
    except NotRecords:
        return fail("stats", not_records(records_and_errors(source)[0]))
    except ReviewLogError as error:
        return fail("stats", error)
    except StatsError as error:
        print(f"extractor stats: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if (said := note(made.reviews)) is not None:
        print(f"extractor stats: {said}", file=sys.stderr)
    if args.json or args.csv:
        _for_scripts(made, args.json)
        return EXIT_OK
    if args.html is None:
        terminal.render(made, Console())
        return EXIT_OK
    from extractor.analytics.report import render
    from extractor.errors import UnsafeTarget
    from extractor.jobs.ledger import write_atomically

    page = render(made)
    try:
        write_atomically(args.html, lambda stream: stream.write(page))
    except (OSError, UnsafeTarget) as error:
        return fail("stats", error)
    print(f"extractor stats: {made.letters} letters, {made.overall.n} items -> {args.html}", file=sys.stderr)
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "stats",
        help="overturn rates, citations and data quality of a batch (terminal or HTML)",
        description="Overturn rates with 95%% Wilson intervals by category, guideline source, reviewer "
        "specialty, priority, decision month, age band and sex; items, citations and data quality.",
    )
    p.add_argument(
        "source", type=Path, metavar="OUT_DIR|RECORDS.jsonl", help="a batch's folder or its records"
    )
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--html", type=Path, metavar="FILE", help="one self-contained HTML page with charts")
    shape.add_argument("--json", action="store_true", help="the whole report as one JSON document on stdout")
    shape.add_argument("--csv", action="store_true", help="the overturn rates as CSV on stdout")
    p.add_argument(
        "--by",
        type=fields,
        metavar="FIELD[,FIELD]",
        help="rates by one field, or a two-way table by two (a dimension or any column of items_wide)",
    )
    p.add_argument(
        "--where", metavar="SQL", help="a DuckDB condition on items_wide, e.g. \"category = 'imaging'\""
    )
    add_no_reviews_option(p)
    p.set_defaults(func=_cmd_stats)
