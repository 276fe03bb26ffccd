"""Where the tests find the shared letters: fail (never skip) with a clear message when absent."""

from __future__ import annotations

import functools
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


@functools.cache
def summary_line(relative: str) -> str:
    """A line of a letter's case summary, which only the request about its summary carries: a
    scripted endpoint routes by it (in hybrid the header, with the case number, is not asked)."""
    from extractor.llm.prompting import clean, parts
    from extractor.reading import read_path

    summary = clean(parts(read_path(require_letter(relative)).text).summary)
    return [line for line in summary.splitlines() if len(line) > 40 and '"' not in line][3]
