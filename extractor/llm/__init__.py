"""The LLM pass: schema-constrained extraction over any OpenAI-compatible endpoint.

The names below are loaded on first use, so that reading an :class:`LLMConfig` (which every
command does to choose its backend) does not import openai and instructor.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extractor.llm.client import (
        LLMResult,
        aextract_with_llm,
        extract_with_llm,
        make_async_client,
        make_client,
    )
    from extractor.llm.config import DEFAULT_MODEL, LLMConfig, default_mode
    from extractor.llm.prompting import prompt_version, prompt_versions

_HOMES = {
    "LLMResult": "client",
    "aextract_with_llm": "client",
    "extract_with_llm": "client",
    "make_async_client": "client",
    "make_client": "client",
    "DEFAULT_MODEL": "config",
    "LLMConfig": "config",
    "default_mode": "config",
    "prompt_version": "prompting",
    "prompt_versions": "prompting",
}

__all__ = [
    "DEFAULT_MODEL",
    "LLMConfig",
    "LLMResult",
    "aextract_with_llm",
    "default_mode",
    "extract_with_llm",
    "make_async_client",
    "make_client",
    "prompt_version",
    "prompt_versions",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"extractor.llm.{_HOMES[name]}"), name)
