"""``extractor extract``: letters in, records out (JSON, JSON lines or an items CSV)."""

from __future__ import annotations

import argparse
import json
import sys

from extractor.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_backend_option,
    add_llm_options,
    chosen_backend,
)
from extractor.errors import ExtractionError, fail_line
from extractor.export import write_items_csv
from extractor.pipeline import extract
from extractor.schemas import Record


def _cmd_extract(args: argparse.Namespace) -> int:
    backend, config = chosen_backend(args, args.backend)
    records: list[Record] = []
    failed = 0
    for path in args.files:
        try:
            record = extract(path, backend=backend, llm_config=config)
        except ExtractionError as error:
            print(fail_line(path, error), file=sys.stderr)
            failed += 1
            continue
        records.append(record)
        if args.format == "jsonl":
            print(record.model_dump_json(), flush=True)
    if args.format == "json":
        payload = [r.model_dump(mode="json") for r in records]
        print(json.dumps(payload[0] if len(args.files) == 1 and payload else payload, indent=2))
    elif args.format == "csv":
        write_items_csv(records, sys.stdout)
    return EXIT_BAD_INPUT if failed else EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("extract", help="extract records from letters (PDF or text)")
    p.add_argument("files", nargs="+", metavar="FILE")
    add_backend_option(p)
    p.add_argument("--format", choices=["json", "jsonl", "csv"], default="json")
    add_llm_options(p)
    p.set_defaults(func=_cmd_extract)
