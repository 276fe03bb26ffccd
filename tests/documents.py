"""Where the tests find the shared letters: fail (never skip) with a clear message when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.fixtures import FIXTURES_DIR, DocumentsRootMissing, documents_root, resolve_document

FIXTURES = FIXTURES_DIR


def shared_root() -> Path:
    """The documents root, or a test failure saying ../shared is missing."""
    try:
        return documents_root()
    except DocumentsRootMissing as missing:
        pytest.fail(str(missing), pytrace=False)


def require_letter(relative: str) -> Path:
    """The path of a labelled document, or a test failure saying it is missing."""
    root = shared_root()
    path = resolve_document(relative, FIXTURES_DIR, root)
    if not path.exists():
        pytest.fail(f"{path} is missing from the documents root {root}", pytrace=False)
    return path
