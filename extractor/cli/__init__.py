"""IMR determination letters in, validated and cross-checked records out.

Commands: extract, text, schema (one letter at a time), batch and export (folders of letters,
resumable), stats (overturn rates and the rest of the analyst report), eval (score against hand
labels, from a checkout), local-server (a small local model for the LLM pass) and review (check
records against their letters in a web page).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from extractor.cli import (
    batch,
    evaluate,
    export,
    extract,
    local_server,
    review,
    schema,
    stats,
    text,
)
from extractor.cli.options import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

COMMANDS = (extract, text, schema, batch, export, stats, evaluate, local_server, review)
"""Each module adds its subcommands with ``register``; none of them imports this package."""


class Parser(argparse.ArgumentParser):
    """argparse with its own exit status for a wrong command line (2 means bad input here)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _verbosity(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="more logging (-vv: debug, never letter text)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="extractor", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    _verbosity(parser, 0)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    for subcommand in sub.choices.values():  # -v after the command too; counts add up
        _verbosity(subcommand, argparse.SUPPRESS)
    return parser


class _Version(argparse.Action):
    """``--version``, looked up only when asked: finding the installed distribution costs every
    other command a few milliseconds of start-up."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("imr-extractor")
    except importlib.metadata.PackageNotFoundError:  # a checkout on sys.path, not installed
        return "unknown (not installed)"


def quiet_clients(level: int) -> None:
    """The HTTP clients log request bodies (the letter) at DEBUG, instructor quotes the
    model's answers in its error lines and vcrpy (eval's cassettes) logs every response at INFO:
    none of them reaches a log, whatever the verbosity."""
    for name in ("openai", "httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    logging.getLogger("vcr").setLevel(logging.WARNING)
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
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
