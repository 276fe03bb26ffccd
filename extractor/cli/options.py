"""What every command shares: exit statuses, the backend and endpoint options, and the backend choice.

Nothing here imports the LLM stack until an endpoint is actually asked for, so that
``extractor extract --backend rules`` starts as fast as the rules pass allows.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, get_args

from extractor.llm.config import ModeName
from extractor.pipeline import BackendChoice, resolve_backend
from extractor.schemas import Backend

if TYPE_CHECKING:
    from extractor.llm.config import LLMConfig

EXIT_OK = 0
EXIT_FAILED = 1
"""An eval below its bar."""
EXIT_BAD_INPUT = 2
"""Some input gave no record (or a command's own input was unusable)."""

def fail(command: str, message: object) -> int:
    """Say why ``extractor COMMAND`` cannot go on, on stderr; the exit status for it."""
    print(f"extractor {command}: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


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


def llm_config(args: argparse.Namespace) -> LLMConfig | None:
    """An LLMConfig when any endpoint option or variable is set, else None (rules only)."""
    from extractor.llm.config import LLMConfig

    overrides = {
        key: value
        for key in ("base_url", "model", "api_key", "mode", "timeout")
        if (value := getattr(args, key, None)) is not None
    }
    if not overrides and not LLMConfig.is_configured():
        return None
    return LLMConfig.from_env(**overrides)


def chosen_backend(args: argparse.Namespace, backend: BackendChoice) -> tuple[Backend, LLMConfig | None]:
    """The backend to run and its endpoint; ``auto`` is resolved and said on stderr, once.

    The rules backend gets no config, so it never imports the LLM stack.
    """
    config = None if backend == "rules" else llm_config(args)
    chosen = resolve_backend(backend, config)
    if backend == "auto":
        why = "an LLM endpoint is configured" if chosen == "hybrid" else "no LLM endpoint is configured"
        print(f"extractor: backend auto -> {chosen} ({why})", file=sys.stderr)
    if chosen == "rules":
        return chosen, None
    if config is None:
        from extractor.llm.config import LLMConfig

        config = LLMConfig.from_env()
    return chosen, config
