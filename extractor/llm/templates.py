"""The LLM pass's prompt files (the repository's prompts/ folder), and which of them each kind
of request sends.

They are installed as the data package ``extractor.prompts`` (pyproject maps the folder into
the package), so a checkout and an installed copy read the same files.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Literal

Kind = Literal["header", "patient", "item"]
"""What a request asks about: the header with the credentials, the case summary, or one item."""
KINDS: tuple[Kind, ...] = ("header", "patient", "item")

USER = "user.md"
"""The user message every request sends, the letter's part inside it."""


def instructions(kind: Kind) -> str:
    """The system prompt template of a ``kind`` request."""
    return f"{kind}.md"


def worked_examples(kind: Kind) -> str:
    """The worked examples a ``kind`` request's system prompt carries."""
    return f"examples/{kind}.toml"


def sent(kind: Kind) -> tuple[str, ...]:
    """Every prompt file a ``kind`` request sends: what its prompt version covers."""
    return (instructions(kind), worked_examples(kind), USER)


TEMPLATES = (*map(instructions, KINDS), USER)
"""Every template the LLM pass sends."""

EXAMPLES = tuple(map(worked_examples, KINDS))
"""The worked examples the templates carry."""


def load(name: str) -> str:
    """The text of prompt file ``name`` (newlines normalised, so a CRLF checkout reads the same)."""
    return files("extractor.prompts").joinpath(name).read_text(encoding="utf-8")
