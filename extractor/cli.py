"""The ``extractor`` command: extract, text, schema, and the commands other modules register."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from extractor.errors import ExtractionError
from extractor.export import write_items_csv
from extractor.pipeline import BackendName, extract, resolve_backend
from extractor.reading import read_path
from schemas import Record

if TYPE_CHECKING:
    from extractor.llm import LLMConfig

EXIT_BAD_INPUT = 2
log = logging.getLogger("extractor")


def fail_line(path: str, error: BaseException) -> str:
    """The one line a user sees for a file that gave no record (never letter text)."""
    kind = getattr(error, "kind", type(error).__name__)
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return f"{path}: {kind}: {message}"


def add_llm_options(parser: argparse.ArgumentParser) -> None:
    """Endpoint options shared by every command that may call a model (env vars are the defaults)."""
    group = parser.add_argument_group(
        "LLM endpoint (default: OPENAI_BASE_URL, OPENAI_API_KEY, EXTRACTOR_MODEL)"
    )
    group.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8012/v1")
    group.add_argument("--model", help="model name at that endpoint")
    group.add_argument("--api-key", help="API key (prefer the OPENAI_API_KEY environment variable)")
    group.add_argument("--mode", choices=["tools", "json_schema", "json", "md_json"], help="instructor mode")
    group.add_argument("--timeout", type=float, help="seconds per LLM request")


def llm_config(args: argparse.Namespace) -> LLMConfig | None:
    """An LLMConfig when any endpoint option or variable is set, else None (rules only)."""
    from extractor.llm import LLMConfig

    overrides = {
        key: value
        for key in ("base_url", "model", "api_key", "mode", "timeout")
        if (value := getattr(args, key, None)) is not None
    }
    if not overrides and not LLMConfig.is_configured():
        return None
    return LLMConfig.from_env(**overrides)


def announce_backend(backend: BackendName, config: LLMConfig | None) -> BackendName:
    """Resolve ``auto`` and say on stderr, once, what it chose."""
    chosen = resolve_backend(backend, config)
    if backend == "auto":
        why = "an LLM endpoint is configured" if chosen == "hybrid" else "no LLM endpoint is configured"
        print(f"extractor: backend auto -> {chosen} ({why})", file=sys.stderr)
    return chosen


def _cmd_extract(args: argparse.Namespace) -> int:
    config = llm_config(args)
    backend = announce_backend(args.backend, config)
    if backend != "rules" and config is None:
        from extractor.llm import LLMConfig

        config = LLMConfig.from_env()
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
    return EXIT_BAD_INPUT if failed else 0


def _cmd_text(args: argparse.Namespace) -> int:
    try:
        sys.stdout.write(read_path(args.file).text + "\n")
    except ExtractionError as error:
        print(fail_line(args.file, error), file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(Record.model_json_schema(), indent=2))
    return 0


def _register_core(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("extract", help="extract records from letters (PDF or text)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--backend", choices=["rules", "llm", "hybrid", "auto"], default="auto")
    p.add_argument("--format", choices=["json", "jsonl", "csv"], default="json")
    add_llm_options(p)
    p.set_defaults(func=_cmd_extract)
    p = sub.add_parser("text", help="print a letter's text as the extractor reads it")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=_cmd_text)
    p = sub.add_parser("schema", help="print the record's JSON Schema")
    p.set_defaults(func=_cmd_schema)


def _registrars() -> list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]]:
    from evals.harness import register as register_eval
    from extractor.batch import register as register_batch
    from extractor.local_server import register as register_local_server

    return [_register_core, register_eval, register_batch, register_local_server]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="extractor", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # The HTTP clients log request bodies (the letter) at DEBUG and instructor quotes the
    # model's answers in its error lines: neither reaches a log, whatever the verbosity.
    for name in ("openai", "httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    logging.getLogger("instructor").setLevel(logging.CRITICAL)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
