"""The LLM pass's prompt templates: the files in the repository's prompts/ folder.

They are installed as the data package ``extractor.prompts`` (pyproject maps the folder into
the package), so a checkout and an installed copy read the same files.
"""

from __future__ import annotations

from importlib.resources import files

TEMPLATES = ("system.md", "user.md", "user_items.md")
"""Every template the LLM pass sends; all of them go into ``prompt_version``."""


def load(name: str) -> str:
    """The text of template ``name`` (newlines normalised, so a CRLF checkout reads the same)."""
    return files("extractor.prompts").joinpath(name).read_text(encoding="utf-8")
