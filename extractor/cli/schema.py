"""``extractor schema``: the record's JSON Schema (schemas/record.schema.json is this output), or
with ``--markdown`` its reference page (docs/record.md)."""

from __future__ import annotations

import argparse
import json

from extractor.cli.options import EXIT_OK
from extractor.schemas import Record


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.markdown:
        from extractor.schemas.reference import page

        print(page(), end="")
    else:
        print(json.dumps(Record.model_json_schema(), indent=2))
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schema", help="print the record's JSON Schema")
    p.add_argument(
        "--markdown", action="store_true", help="print the record's reference page (docs/record.md) instead"
    )
    p.set_defaults(func=_cmd_schema)
