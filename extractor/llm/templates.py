"""The LLM pass's prompt files: the repository's prompts/ folder.

They are installed as the data package ``extractor.prompts`` (pyproject maps the folder into
the package), so a checkout and an installed copy read the same files.
"""

from __future__ import annotations

from importlib.resources import files

TEMPLATES = ("header.md", "patient.md", "item.md", "user.md")
"""Every template the LLM pass sends; all of them go into ``prompt_version``."""

EXAMPLES = ("examples/header.toml", "examples/patient.toml", "examples/item.toml")
"""The worked examples the templates carry; they go into ``prompt_version`` too."""


def load(name: str) -> str:
    """The text of prompt file ``name`` (newlines normalised, so a CRLF checkout reads the same)."""
    return files("extractor.prompts").joinpath(name).read_text(encoding="utf-8")
