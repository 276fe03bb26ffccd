"""What every command shares: exit statuses, the backend and endpoint options, and the backend choice.

Nothing here imports the LLM stack (openai, instructor): the endpoint's configuration is plain
pydantic, so that ``extractor extract --backend rules`` starts as fast as the rules pass allows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, get_args

from extractor.llm.config import LLMConfig, ModeName
from extractor.pipeline import BACKENDS, BackendChoice, resolve_backend
from extractor.reading import SourceText, begin_bytes, begin_path
from extractor.schemas import Backend
from extractor.scope import SCOPES

EXIT_OK = 0
EXIT_FAILED = 1
"""An eval below its bar."""
EXIT_BAD_INPUT = 2
"""Some input gave no record (or a command's own input was unusable)."""
EXIT_USAGE = 64
"""The command line itself is wrong (sysexits' EX_USAGE), told apart from bad input."""
EXIT_INTERRUPTED = 130
"""Ctrl-C."""

STDIN = "-"
"""A FILE argument that means standard input."""


def fail(command: str, message: object) -> int:
    """Say why ``extractor COMMAND`` cannot go on, on stderr; the exit status for it.

    An OSError says its reason and file ("No such file or directory: x"), not its errno.
    """
    if isinstance(message, OSError) and message.strerror:
        where = f": {message.filename}" if message.filename else ""
        message = f"{message.strerror}{where}"
    print(f"extractor {command}: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def unwritable(path: Path) -> str | None:
    """Why a command cannot write the file ``path``, to say before any work: it exists as
    something replacing would destroy (``jobs.ledger.replaceable``), or its folder is missing."""
    from extractor.errors import UnsafeTarget
    from extractor.jobs.ledger import replaceable

    try:
        folder = replaceable(path).parent
    except UnsafeTarget as error:
        return str(error)
    return None if folder.is_dir() else f"no such folder: {folder}; create it first"


def not_records(path: Path) -> str:
    """Why ``path`` is not a records.jsonl, in words that say what to pass instead."""
    try:
        with path.open(encoding="utf-8") as lines:
            first = json.loads(next((line for line in lines if line.strip()), "{}"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return f"{path} is not a records.jsonl (not JSON lines)"
    if isinstance(first, dict) and "error" in first and "determination" not in first:
        return f"{path} is an errors file (one failed letter a line); give a batch's records.jsonl"
    return f"{path} holds a line that is not a record"


def add_no_reviews_option(parser: argparse.ArgumentParser) -> None:
    """A batch's records are read as reviewed (reviews.jsonl applied) unless this is given."""
    parser.add_argument(
        "--no-reviews",
        dest="reviews",
        action="store_false",
        help="the machine's values: leave out the corrections in reviews.jsonl beside the records",
    )


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=get_args(BackendChoice),
        default="auto",
        help="rules (offline), llm, hybrid (both, cross-checked), or auto: hybrid when an LLM "
        "endpoint is configured, else rules (default: auto)",
    )


def add_llm_options(parser: argparse.ArgumentParser) -> None:
    """Endpoint options shared by every command that may call a model (env vars are the defaults)."""
    group = parser.add_argument_group(
        "LLM endpoint (default: OPENAI_BASE_URL, OPENAI_API_KEY, EXTRACTOR_MODEL)"
    )
    group.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8012/v1")
    group.add_argument("--model", help="model name at that endpoint")
    group.add_argument("--api-key", help="API key (prefer the OPENAI_API_KEY environment variable)")
    group.add_argument("--mode", choices=get_args(ModeName), help="instructor mode")
    group.add_argument("--timeout", type=float, help="seconds per LLM request")
    group.add_argument(
        "--llm-scope",
        dest="llm_scope",
        choices=SCOPES,
        help="hybrid: ask the LLM only about the parts the rules pass doubts (doubtful, the default) "
        "or about every part (all)",
    )


def llm_config(args: argparse.Namespace) -> LLMConfig | None:
    """An LLMConfig when any endpoint option or variable is set, else None (rules only)."""
    overrides = {
        key: value
        for key in ("base_url", "model", "api_key", "mode", "timeout")
        if (value := getattr(args, key, None)) is not None
    }
    if not overrides and not LLMConfig.is_configured():
        return None
    return LLMConfig.from_env(**overrides, scope=getattr(args, "llm_scope", None))


def chosen_backend(
    args: argparse.Namespace, backend: BackendChoice, *, quiet: bool = False
) -> tuple[Backend, LLMConfig | None]:
    """The backend to run and its endpoint; ``auto`` is resolved and said on stderr, once.

    The rules backend gets no config, so it never imports the LLM stack.
    """
    config = None if backend != "auto" and not BACKENDS[backend].asks else llm_config(args)
    chosen = resolve_backend(backend, config)
    asks = BACKENDS[chosen].asks
    if backend == "auto" and not quiet:
        why = "an LLM endpoint is configured" if asks else "no LLM endpoint is configured"
        print(f"extractor: backend auto -> {chosen} ({why})", file=sys.stderr)
    if not asks:
        return chosen, None
    if config is None:
        config = LLMConfig.from_env()
    return chosen, config


def unreachable_endpoint(config: LLMConfig, timeout: float = 5.0) -> str | None:
    """Why the endpoint cannot be reached (one TCP connection, nothing sent), or None.

    Checked once before a command sends letters, so that a wrong or stopped endpoint is one
    clear line at once instead of every letter failing after its retries.
    """
    host, port = config.host_port
    try:
        socket.create_connection((host, port), timeout=min(timeout, config.timeout)).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        hint = "" if config.base_url else " (neither OPENAI_BASE_URL nor --base-url is set)"
        return f"cannot reach the LLM endpoint at {config.endpoint}: {reason}{hint}"
    return None


def add_output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")


@contextlib.contextmanager
def output(path: str | None) -> Iterator[IO[str]]:
    """``path`` opened for writing (through a link or a device, never replacing it), or stdout."""
    if path is None or path == STDIN:
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline="") as out:
        yield out


def unusable_output(path: str | None) -> str | None:
    """Why ``-o PATH`` cannot be written, said before any letter is read; None when it can."""
    return None if path is None or path == STDIN else unwritable(Path(path))


def letters(arguments: Sequence[str]) -> tuple[list[str], list[str]]:
    """FILE arguments as letters (a folder is every ``*.pdf`` and ``*.txt`` below it, sorted),
    and the folders among them that hold none, each said on stderr: an empty folder is bad input,
    not an empty answer."""
    found: list[str] = []
    empty: list[str] = []
    for argument in arguments:
        if not os.path.isdir(argument):
            found.append(argument)
            continue
        from extractor.jobs.inputs import expand  # the batch machinery, only for a folder

        below = expand([argument])
        found += below
        if not below:
            print(f"{argument}: no letters (.pdf or .txt) in this folder", file=sys.stderr)
            empty.append(argument)
    return found, empty


def read_source(name: str) -> SourceText:
    """One letter: standard input for ``-``, else the file (a missing one is "no such file")."""
    return begin_source(name)()


def begin_source(name: str) -> Callable[[], SourceText]:
    """:func:`read_source` begun (see :func:`extractor.reading.read_ahead`)."""
    if name == STDIN:
        return begin_bytes(sys.stdin.buffer.read(), "<stdin>")
    return begin_path(name)
