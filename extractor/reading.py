"""Reading letters: published PDFs and text files in, one normalised text out.

Every offset in a record's ``evidence`` indexes the text this module returns, so it is the
only place that decides what "the letter's text" is.  pypdfium2 was chosen by measurement:
on the 50 sample letters it read them 11x faster than pypdf with the same text.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from extractor.errors import (
    BinaryDocument,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedPDF,
    InputError,
    NotARegularFile,
    UnreadablePDF,
)
from extractor.limits import Limits, settled, start_limited
from extractor.schemas import Document

MAX_BYTES = 20 * 1024 * 1024
"""The largest file read: the longest real letter is ~30 kB, so 20 MB is a runaway, not a letter."""

SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u3000]+")
"""Runs of spaces normalised to one (the review view maps offsets through the same rule)."""
_CASE_NUMBER = re.compile(r"\bCase Number:\s*([A-Z]{2}\d{2}-\d{5,})")
# pdfium marks a soft hyphen at a line break with U+FFFE (or U+00AD); the break itself is gone.
# Public: the review view maps evidence offsets to character boxes through the same rules.
SOFT_HYPHENS = str.maketrans({"\ufffe": "-", "\u00ad": "-", "\u2010": "-", "\u2011": "-"})


@dataclass(frozen=True)
class SourceText:
    """A letter as the project reads it: normalised text plus what identifies the file."""

    path: str
    text: str
    sha256: str
    pages: int | None = None

    def document(self) -> Document:
        match = _CASE_NUMBER.search(self.text[:2000])
        doc_id = match.group(1) if match else Path(self.path).stem or "text"
        return Document(id=doc_id, path=self.path, sha256=self.sha256, pages=self.pages, chars=len(self.text))


def normalise(raw: str) -> str:
    """One line per printed line: no blank lines, no edge spaces, single inner spaces.

    This folds the renderings letters arrive in (CRLF PDFs, the seeds' blank line between
    every line, page gaps, trailing spaces) into one form the rules can rely on.
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n").translate(SOFT_HYPHENS)
    lines = (SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM begins it
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Where mostly-Latin text has NUL bytes, byte by byte in each group of four.
_NUL_PATTERNS = {
    "utf-32-le": (False, True, True, True),
    "utf-32-be": (True, True, True, False),
    "utf-16-le": (False, True, False, True),
    "utf-16-be": (True, False, True, False),
}
_SAMPLE = 65536


def _wide_encoding(data: bytes) -> str | None:
    """UTF-16 or UTF-32 by its byte order mark, or, without one, by where its NUL bytes fall
    (the high bytes of Latin characters); None for anything else, binary included."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    sample = data[: _SAMPLE - _SAMPLE % 4]
    groups = len(sample) // 4
    if groups < 4 or b"\x00" not in sample:
        return None
    shares = [sample[offset : groups * 4 : 4].count(0) / groups for offset in range(4)]
    for encoding, pattern in _NUL_PATTERNS.items():
        if all(share > 0.6 if nul else share < 0.1 for share, nul in zip(shares, pattern, strict=True)):
            return encoding
    return None


def decode_text(data: bytes) -> str:
    """UTF-16 or UTF-32 when they show (see _wide_encoding), else UTF-8 when it is valid, else
    latin-1 (which never fails); binary is refused by its NUL bytes or its control characters."""
    wide = _wide_encoding(data)
    if wide is not None:
        try:
            text = data.decode(wide)
        except UnicodeDecodeError:
            raise BinaryDocument(f"not valid {wide.upper()} text") from None
    elif b"\x00" in data[:_SAMPLE]:
        raise BinaryDocument("contains NUL bytes: not a text file")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    sample = text[:_SAMPLE]
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f\v")
    if control > max(8, len(sample) // 100):
        raise BinaryDocument("mostly control characters: not a text file")
    return text


def pdf_text(data: bytes) -> tuple[str, int]:
    """Normalised text and page count of a PDF as the Division publishes it (AES-encrypted with
    an empty password).  Runs in the reader process (see extractor.limits), where the PDF is
    open to say why it has no text."""
    try:
        pdf = pdfium.PdfDocument(data, password="")
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise EncryptedPDF("PDF needs a password") from None
        raise UnreadablePDF(f"PDF cannot be opened ({exc})") from None
    try:
        pages = _page_texts(pdf)
        text = normalise("\n".join(pages))
        if not text:
            raise EmptyDocument(_why_no_text(pdf))
        return text, len(pages)
    except pdfium.PdfiumError as exc:
        raise UnreadablePDF(f"PDF is damaged ({exc})") from None
    finally:
        pdf.close()


def _page_texts(pdf: pdfium.PdfDocument) -> list[str]:
    texts = []
    for index in range(len(pdf)):
        page = pdf[index]
        textpage = page.get_textpage()
        texts.append(textpage.get_text_range())
        textpage.close()
        page.close()
    return texts


def _why_no_text(pdf: pdfium.PdfDocument) -> str:
    """A scan (pages of images without a text layer) or a PDF that draws neither; forms are
    searched two deep, enough for a scan and cheap on forms that draw each other."""
    for index in range(len(pdf)):
        page = pdf[index]
        images = page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2)
        has_image = next(images, None) is not None
        page.close()
        if has_image:
            return "no text layer: its pages are images (a scanned PDF?)"
    return "no text and no images: the PDF draws nothing to read"


def read_bytes(data: bytes, path: str, limits: Limits | None = None) -> SourceText:
    """Turn a file's bytes into the normalised text (PDF by its magic number, else text).

    A PDF is read in a reader process under ``limits`` (default: :meth:`Limits.from_env`;
    see extractor.limits), so a small hostile one costs at most that much memory and time.
    """
    return begin_bytes(data, path, limits)()


def begin_bytes(data: bytes, path: str, limits: Limits | None = None) -> Callable[[], SourceText]:
    """:func:`read_bytes` begun: a PDF is handed to the reader, and the call returned waits for
    its text, so this process can work on the letter before meanwhile (see :func:`read_ahead`)."""
    if len(data) > MAX_BYTES:
        raise DocumentTooLarge(f"{len(data)} bytes is over the {MAX_BYTES}-byte limit")
    if not data.strip():
        raise EmptyDocument("file is empty")
    digest = hashlib.sha256(data).hexdigest()
    if data.lstrip()[:5] == b"%PDF-":
        reading = start_limited(partial(pdf_text, data), limits or Limits.from_env())
        return partial(_pdf_source, reading, path, digest)
    if path.lower().endswith(".pdf"):
        raise UnreadablePDF("named .pdf but has no PDF header")
    text = normalise(decode_text(data))
    if not text:
        raise EmptyDocument("no text")
    source = SourceText(path=path, text=text, sha256=digest)
    return lambda: source


def _pdf_source(reading: Callable[[], tuple[str, int]], path: str, digest: str) -> SourceText:
    text, pages = reading()
    return SourceText(path=path, text=text, sha256=digest, pages=pages)


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
"""Non-blocking, so a FIFO swapped in after the check cannot block; untranslated on Windows."""
_FILE_TYPES = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _require_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        what = _FILE_TYPES.get(stat.S_IFMT(mode), "a special file")
        raise NotARegularFile(f"is {what}, not a regular file")


def open_regular(path: str | os.PathLike[str]) -> int:
    """A descriptor open for reading on ``path``, which must be a regular file.

    Checked before opening (opening a FIFO waits for a writer, a device may never end) and
    again on the descriptor, opened non-blocking, in case the path was swapped in between.
    """
    _require_regular(os.stat(path).st_mode)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        _require_regular(os.fstat(fd).st_mode)
    except NotARegularFile:
        os.close(fd)
        raise
    return fd


def read_path(path: str | os.PathLike[str], limits: Limits | None = None) -> SourceText:
    """Read one regular file from disk, refusing oversized files before loading them."""
    return begin_path(path, limits)()


def begin_path(path: str | os.PathLike[str], limits: Limits | None = None) -> Callable[[], SourceText]:
    """:func:`read_path` begun, as :func:`begin_bytes` begins :func:`read_bytes`."""
    try:
        with os.fdopen(open_regular(path), "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > MAX_BYTES:
                raise DocumentTooLarge(f"{size} bytes is over the {MAX_BYTES}-byte limit")
            data = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError("no such file") from None
    except PermissionError:
        raise InputError("permission denied") from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    return begin_bytes(data, str(path), limits)


def read_ahead(
    names: Iterable[str], begin: Callable[[str], Callable[[], SourceText]] = begin_path
) -> Iterator[tuple[str, Callable[[], SourceText]]]:
    """Each name with a call that gives its letter or raises why not, in order; when a name is
    given, the next one's PDF is already in the reader, so reading it overlaps whatever the
    caller does with this letter.  The reader has one read at a time, so its limits and its
    deadline are :func:`read_path`'s."""
    pending: tuple[str, Callable[[], SourceText]] | None = None
    for name in names:
        done = None if pending is None else (pending[0], settled(pending[1]))
        pending = name, partial(_finish, settled(partial(begin, name)))
        if done is not None:
            yield done
    if pending is not None:
        yield pending[0], settled(pending[1])


def _finish(begun: Callable[[], Callable[[], SourceText]]) -> SourceText:
    """The letter a begun read gives, or the error its beginning or its end raised."""
    return begun()()


def read_string(text: str, path: str = "<text>") -> SourceText:
    """Wrap text given directly (the library call), hashing its UTF-8 bytes."""
    return read_bytes(text.encode("utf-8"), path)
