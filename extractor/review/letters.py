"""Letters for the review page: read once, checked against the record, pages rendered once.

pdfium is not thread-safe, so every call into it in this process holds one lock; pages are
rendered in the PDF reader process, and kept (most recently used first), so moving back and
forth between records renders nothing twice.
"""

from __future__ import annotations

import math
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import pypdfium2 as pdfium

from extractor.errors import ExtractionError, UnreadablePDF
from extractor.limits import Limits, run_limited
from extractor.reading import read_path
from extractor.review.boxes import PageChars, PdfLayout

RENDER_SCALE = 2.0
"""Pixels per PDF point: 1224x1584 for a letter page, sharp at the page's shown width."""
MAX_PIXELS = 4_000_000
"""The most pixels a page is rendered with (twice a letter page's): ~4 MB of greyscale."""

_PDFIUM = threading.Lock()
_T = TypeVar("_T")


@dataclass(frozen=True)
class Letter:
    """A record's document as read now: its normalised text, and for a PDF its character boxes.

    ``problem`` says why the letter cannot be shown (missing, changed since it was extracted);
    ``path`` is where it was found, so its pages are rendered from the file that was checked.
    """

    path: Path | None = None
    text: str | None = None
    layout: PdfLayout | None = None
    pages: int | None = None
    problem: str | None = None


def read_letter(path: Path | None, sha256: str) -> Letter:
    """The letter at ``path``, or a Letter with the reason it cannot be shown."""
    if path is None:
        return Letter(problem="letter not found by its sha256 (give its folder with --documents)")
    try:
        with _PDFIUM:
            source = read_path(path)
    except ExtractionError as error:
        return Letter(problem=f"letter cannot be read ({error.kind})")
    if source.sha256 != sha256:
        return Letter(problem="the letter has changed since it was extracted; evidence offsets do not apply")
    if source.pages is None:
        return Letter(path, text=source.text)
    with _PDFIUM:
        layout = PdfLayout(_page_chars(path))
    if layout.text != source.text:  # never expected: boxes would point at the wrong characters
        return Letter(path, text=source.text, pages=source.pages, problem="character boxes do not line up")
    return Letter(path, text=source.text, layout=layout, pages=source.pages)


def _page_chars(path: Path) -> list[PageChars]:
    pdf = pdfium.PdfDocument(path, password="")
    try:
        pages = []
        for number in range(len(pdf)):
            page = pdf[number]
            textpage = page.get_textpage()
            count = textpage.count_chars()
            boxes = [textpage.get_charbox(index, loose=True) for index in range(count)]
            width, height = page.get_size()
            pages.append(PageChars(textpage.get_text_range(), boxes, width, height))
            textpage.close()
            page.close()
        return pages
    finally:
        pdf.close()


def render_page(path: Path, number: int, scale: float = RENDER_SCALE) -> bytes:
    """Page ``number`` of the PDF at ``path`` as a greyscale PNG (the boxes are drawn in colour
    above it).  Rendered in the PDF reader process, under its memory and CPU limits
    (extractor.limits), at most :data:`MAX_PIXELS`: a page that reads like a letter can still be
    200 inches wide."""
    return run_limited(partial(_render, str(path), number, scale), Limits.from_env())


def fitting_scale(width: float, height: float, scale: float) -> float:
    """``scale``, or the smaller one at which a ``width`` x ``height``-point page has MAX_PIXELS."""
    pixels = width * height * scale * scale
    return scale if pixels <= MAX_PIXELS else scale * math.sqrt(MAX_PIXELS / pixels)


def _render(path: str, number: int, scale: float) -> bytes:
    """In the reader process: render the page, or IndexError / UnreadablePDF."""
    try:
        pdf = pdfium.PdfDocument(path, password="")
        try:
            if not 0 <= number < len(pdf):
                raise IndexError(number)
            page = pdf[number]
            width, height = page.get_size()
            bitmap = page.render(scale=fitting_scale(width, height, scale), grayscale=True)
            width, height, stride = bitmap.width, bitmap.height, bitmap.stride
            pixels = bytes(bitmap.buffer)
        finally:
            pdf.close()
    except pdfium.PdfiumError as error:
        raise UnreadablePDF(f"page cannot be rendered ({error})") from None
    return png_grey(pixels, width, height, stride)


def png_grey(pixels: bytes, width: int, height: int, stride: int) -> bytes:
    """An 8-bit greyscale PNG of ``pixels`` (rows ``stride`` bytes apart), with no imaging library."""
    rows = b"".join(b"\x00" + pixels[row * stride : row * stride + width] for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )


class Recent(OrderedDict[tuple[object, ...], _T]):
    """The ``size`` most recently used values, each made once by the function given on a miss."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._lock = threading.Lock()

    def get_or_make(self, key: tuple[object, ...], make: Callable[[], _T]) -> _T:
        with self._lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
        value = make()
        with self._lock:
            self[key] = value
            while len(self) > self.size:
                self.popitem(last=False)
        return value
