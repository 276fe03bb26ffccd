"""The LLM pass's prompt templates, shipped as package data (see README.md beside them)."""

from __future__ import annotations

from importlib.resources import files

TEMPLATES = ("system.md", "user.md", "user_items.md")
"""Every template the LLM pass sends; all of them go into ``prompt_version``."""


def load(name: str) -> str:
    """The text of template ``name`` (newlines normalised, so a CRLF checkout reads the same)."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
