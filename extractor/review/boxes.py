"""Evidence offsets to boxes on the PDF page.

A record's evidence indexes the *normalised* text (:func:`extractor.reading.normalise`), while
pdfium gives a box per character of each page's *raw* text.  :func:`normalise_with_origins`
repeats the normalisation step by step, remembering for each character it keeps the raw
character it came from; a test holds it to ``normalise`` on every letter and on fuzzed text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from extractor.reading import SOFT_HYPHENS, SPACES
from extractor.schemas.record import Span


def _fold_newlines(raw: str) -> tuple[str, list[int]]:
    r"""``\r\n`` and ``\r`` as ``\n`` (the origin of ``\r\n`` is its ``\n``), soft hyphens as ``-``."""
    chars: list[str] = []
    origins: list[int] = []
    for index, char in enumerate(raw):
        if char == "\r" and raw[index + 1 : index + 2] == "\n":
            continue
        chars.append("\n" if char == "\r" else char)
        origins.append(index)
    return "".join(chars).translate(SOFT_HYPHENS), origins


def _collapse(line: str, origins: Sequence[int]) -> tuple[str, list[int]]:
    """One line's runs of spaces as one space, then stripped, as ``normalise`` does."""
    chars: list[str] = []
    kept: list[int] = []
    last = 0
    for match in SPACES.finditer(line):
        chars.append(line[last : match.start()])
        kept.extend(origins[last : match.start()])
        chars.append(" ")
        kept.append(origins[match.start()])
        last = match.end()
    chars.append(line[last:])
    kept.extend(origins[last:])
    collapsed = "".join(chars)
    stripped = collapsed.strip()
    start = len(collapsed) - len(collapsed.lstrip())
    return stripped, kept[start : start + len(stripped)]


def normalise_with_origins(raw: str) -> tuple[str, list[int]]:
    """``normalise(raw)`` and, for each of its characters, the index in ``raw`` it came from.

    A joining newline's origin is the raw newline that ended its line.
    """
    folded, fold_origins = _fold_newlines(raw)
    text: list[str] = []
    origins: list[int] = []
    start = 0
    for line in folded.split("\n"):
        end = start + len(line)
        kept, kept_origins = _collapse(line, fold_origins[start:end])
        if kept:
            if text:
                text.append("\n")
                origins.append(fold_origins[start - 1])
            text.append(kept)
            origins.extend(kept_origins)
        start = end + 1
    return "".join(text), origins


@dataclass(frozen=True)
class Box:
    """A rectangle on a page, in fractions of the page's width and height from its top left,
    so that the page image can be shown at any size."""

    page: int
    x: float
    y: float
    w: float
    h: float


CharBox = tuple[float, float, float, float]
"""pdfium's (left, bottom, right, top), in PDF points from the page's bottom left."""


@dataclass(frozen=True)
class PageChars:
    """One page's raw text, a box per character (None where pdfium generated the character),
    and the page's size in points."""

    text: str
    boxes: Sequence[CharBox | None]
    width: float
    height: float


class PdfLayout:
    """A PDF letter's pages as the extractor reads them, with every character's box."""

    def __init__(self, pages: Sequence[PageChars]) -> None:
        self.pages = pages
        raw = "\n".join(page.text for page in pages)  # as extractor.reading.pdf_text joins them
        self.text, origins = normalise_with_origins(raw)
        self._where: list[tuple[int, int] | None] = []
        for number, page in enumerate(pages):
            self._where.extend((number, index) for index in range(len(page.text)))
            self._where.append(None)  # the newline between pages
        self._origins = origins

    def boxes(self, spans: Iterable[Span]) -> list[Box]:
        """The boxes covering ``spans`` of the normalised text: one per run of characters on a line."""
        result: list[Box] = []
        for start, end in spans:
            result.extend(self._line_boxes(range(max(start, 0), min(end, len(self._origins)))))
        return result

    def _line_boxes(self, offsets: range) -> list[Box]:
        runs: list[tuple[int, list[float]]] = []
        for offset in offsets:
            where = self._where[self._origins[offset]]
            if where is None:
                continue
            page, index = where
            box = self.pages[page].boxes[index]
            if box is None or box[2] <= box[0]:
                continue
            left, bottom, right, top = box
            if runs and runs[-1][0] == page and _same_line(runs[-1][1], box):
                run = runs[-1][1]
                run[:] = [min(run[0], left), min(run[1], bottom), max(run[2], right), max(run[3], top)]
            else:
                runs.append((page, [left, bottom, right, top]))
        return [self._fraction(page, run) for page, run in runs]

    def _fraction(self, page: int, run: list[float]) -> Box:
        size = self.pages[page]
        left, bottom, right, top = run
        return Box(
            page=page,
            x=left / size.width,
            y=(size.height - top) / size.height,
            w=(right - left) / size.width,
            h=(top - bottom) / size.height,
        )


def _same_line(run: list[float], box: CharBox) -> bool:
    """A character continues a run when it sits to its right and its middle is within the run's height."""
    middle = (box[1] + box[3]) / 2
    return box[0] >= run[0] - 0.5 and run[1] <= middle <= run[3]
