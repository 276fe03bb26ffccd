"""IMR determination letters in, validated and cross-checked records out.

Commands: extract, text, schema (one letter at a time), batch and export (folders of letters,
resumable), eval (score against hand labels, from a checkout) and local-server (a small local
model for the LLM pass).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from extractor.cli import batch, evaluate, export, extract, local_server, schema, text
from extractor.cli.options import EXIT_OK

COMMANDS = (extract, text, schema, batch, export, evaluate, local_server)
"""Each module adds its subcommands with ``register``; none of them imports this package."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="extractor", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def quiet_clients(level: int) -> None:
    """The HTTP clients log request bodies (the letter) at DEBUG and instructor quotes the
    model's answers in its error lines: neither reaches a log, whatever the verbosity."""
    for name in ("openai", "httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    logging.getLogger("instructor").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    quiet_clients(level)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
