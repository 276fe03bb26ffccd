"""The LLM pass: schema-constrained extraction over any OpenAI-compatible endpoint."""

from extractor.llm.client import (
    LLMResult,
    aextract_with_llm,
    extract_with_llm,
    make_async_client,
    make_client,
)
from extractor.llm.config import DEFAULT_MODEL, LLMConfig, default_mode
from extractor.llm.prompting import prompt_version

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
]
