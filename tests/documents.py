"""Where the tests find the shared letters: fail (never skip) with a clear message when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("IMR_DOCUMENTS", REPO.parent / "shared"))
FIXTURES = REPO / "evals" / "fixtures"


def require_letter(relative: str) -> Path:
    """The path of a shared document, or a test failure saying ../shared is missing."""
    path = FIXTURES / relative if relative.startswith("synthetic/") else SHARED / relative
    if not path.exists():
        pytest.fail(
            f"{path} is missing: the tests read the letters from ../shared beside the project "
            "(or set IMR_DOCUMENTS to the folder holding letters/ and seeds/)",
            pytrace=False,
        )
    return path
