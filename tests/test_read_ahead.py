"""Read-ahead: the next letter's PDF is read while this one is worked on, with nothing else changed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pypdf import PdfWriter

from extractor.errors import ExtractionError
from extractor.limits import Limits
from extractor.reading import SourceText, begin_path, read_ahead, read_path
from tests.documents import require_letter


def _outcome(read: Callable[[], SourceText]) -> SourceText | tuple[str, str]:
    try:
        return read()
    except ExtractionError as error:
        return type(error).__name__, str(error)


@pytest.fixture
def mixed(tmp_path: Path) -> list[str]:
    """Letters and bad files in turn: a PDF, a missing file, random bytes, a locked PDF, a text."""
    locked = tmp_path / "locked.pdf"
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret")
    with locked.open("wb") as handle:
        writer.write(handle)
    (tmp_path / "random.pdf").write_bytes(os.urandom(4096))
    (tmp_path / "letter.txt").write_text(read_path(require_letter("letters/CM16-0213037.pdf")).text)
    pdf = str(require_letter("letters/CM16-0213037.pdf"))
    names = ["missing.pdf", "random.pdf", "locked.pdf", "letter.txt"]
    return [pdf, *(str(tmp_path / name) for name in names), pdf]


def test_each_name_gives_what_reading_it_alone_gives_in_order(mixed: list[str]) -> None:
    ahead = [(name, _outcome(read)) for name, read in read_ahead(mixed, begin_path)]
    alone = [(name, _outcome(lambda name=name: read_path(name))) for name in mixed]
    assert ahead == alone
    letters = [isinstance(outcome, SourceText) for _, outcome in ahead]
    assert letters == [True, False, False, False, True, True]


def test_the_next_read_is_begun_before_a_letter_is_given(mixed: list[str]) -> None:
    begun: list[str] = []

    def begin(name: str) -> Callable[[], SourceText]:
        begun.append(name)
        return begin_path(name)

    given = []
    for name, read in read_ahead(mixed, begin):
        given.append(name)
        assert begun == mixed[: len(given) + 1]
        _outcome(read)
    assert given == mixed


def test_a_read_asked_for_after_its_deadline_still_gives_the_letter() -> None:
    """The caller was busy past the wall-clock limit; the reader had long finished."""
    limits = Limits(cpu_seconds=1)
    read = begin_path(require_letter("letters/CM16-0213037.pdf"), limits)
    time.sleep(limits.wall_seconds + 0.5)
    assert read().document().id == "CM16-0213037"
