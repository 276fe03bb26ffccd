"""Where the LLM pass sends its requests and how hard it tries: one immutable value.

Read from the environment (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``EXTRACTOR_MODEL``) and
overridden by CLI flags or library arguments.  The key is a ``SecretStr``: it never shows in
a repr, a log line or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from extractor.scope import Scope

if TYPE_CHECKING:
    import instructor

ModeName = Literal["tools", "json_schema", "json", "md_json"]
"""instructor's modes as the CLI and the cassettes name them (instructor.Mode's members, lower case)."""

PROGRESS_LOGGER = "extractor.llm.progress"
"""Logs, at INFO, which part of a letter the model is being asked about (never the part's text)."""
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""Where the openai client sends requests when no base URL is given."""

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


def default_mode(base_url: str | None) -> ModeName:
    """The instructor mode an endpoint gets unless one is given.

    Forced tool calls work on OpenAI and on the local servers we run (llama-cpp-python's
    server, where ``json_schema`` answers HTTP 500; vLLM; Ollama), and let the server
    constrain decoding to the schema.  An unknown remote endpoint gets ``md_json``, which
    needs nothing from it beyond plain chat.
    """
    if base_url is None:
        return "tools"
    host = urlsplit(base_url).hostname or ""
    if host in _LOCAL_HOSTS or host == "api.openai.com" or host.endswith(".openai.azure.com"):
        return "tools"
    return "md_json"


class LLMConfig(BaseModel):
    """Endpoint, model and limits of the LLM pass for one run (immutable, safe to share)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = Field(default=None, description="None: api.openai.com")
    api_key: SecretStr | None = None
    model: str = DEFAULT_MODEL
    mode: ModeName | None = Field(default=None, description="None: chosen by default_mode()")
    timeout: float = Field(default=300.0, gt=0, description="Seconds per whole HTTP request.")
    transport_retries: int = Field(default=3, ge=0, description="For 429, 5xx, timeouts.")
    max_retries: int = Field(default=2, ge=0, description="Re-asks after a validation error.")
    max_tokens: int = Field(default=2048, gt=0, description="Completion tokens per request.")
    token_budget: int = Field(default=40_000, gt=0, description="Prompt+completion per letter.")
    temperature: float = Field(default=0.0, ge=0)
    scope: Scope = Field(
        default="doubtful",
        description="Hybrid: ask about the parts the rules pass doubts (doubtful) or every part (all).",
    )
    context_tokens: int = Field(
        default=16_384, gt=0, description="The model's context; longer letters go in parts."
    )
    concurrent_calls: bool | None = Field(
        default=None,
        description="Send a letter's requests at once; None: in sequence to a server on this machine.",
    )
    backoff_initial: float = Field(default=1.0, ge=0, description="First transport wait, s.")
    backoff_max: float = Field(
        default=30.0, ge=0, description="Longest wait, s; a longer Retry-After gives up."
    )

    @property
    def host_port(self) -> tuple[str, int]:
        """Where requests go, for a reachability check."""
        parts = urlsplit(self.base_url or DEFAULT_BASE_URL)
        return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def parallel_calls(self) -> bool:
        """Whether a letter's requests go at once.  A server on this machine runs one model that
        answers one request at a time, and reuses the prompt prefix of the request before: in
        sequence, a letter's item requests share their whole system prompt."""
        if self.concurrent_calls is not None:
            return self.concurrent_calls
        return self.host_port[0] not in _LOCAL_HOSTS

    @property
    def endpoint(self) -> str:
        """``HOST:PORT`` of the endpoint, as errors name it: never a path, user or password."""
        host, port = self.host_port
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def instructor_mode(self) -> instructor.Mode:
        import instructor  # here, so that reading the configuration does not load the LLM stack

        return instructor.Mode[(self.mode or default_mode(self.base_url)).upper()]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> LLMConfig:
        """The environment's settings, with ``overrides`` on top (a None override is ignored)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "base_url": env.get("OPENAI_BASE_URL") or None,
            "api_key": env.get("OPENAI_API_KEY") or None,
            "model": env.get("EXTRACTOR_MODEL") or DEFAULT_MODEL,
        }
        values.update((key, value) for key, value in overrides.items() if value is not None)
        return cls(**values)

    @staticmethod
    def is_configured(environ: Mapping[str, str] | None = None) -> bool:
        """Whether the environment names an endpoint: what the CLI's ``auto`` backend asks."""
        env = os.environ if environ is None else environ
        return bool(env.get("OPENAI_BASE_URL") or env.get("OPENAI_API_KEY"))
