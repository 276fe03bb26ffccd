"""Evidence offsets land on the right characters of the PDF page.

The offsets index the normalised text; the boxes come from pdfium's raw text.  These tests
hold the offset map to ``extractor.reading.normalise`` itself and check, through pdfium's own
"text inside this rectangle", that each decision's box covers the decision word.
"""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest
from hypothesis import given
from hypothesis import strategies as st

from extractor.reading import normalise, pdf_text, read_path
from extractor.review.batch import read_batch
from extractor.review.boxes import Box, normalise_with_origins
from extractor.review.letters import png_grey, read_letter
from tests.documents import require_letter, shared_root
from tests.review_batch import make_batch

TRICKY = ["a", "b", " ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u2002", "\u200b", "\ufffe", "\u00ad", "\x85",
          "\u2028", "\x1c", "\f", "\v", "\u3000"]  # fmt: skip


def check_origins(raw: str) -> None:
    text, origins = normalise_with_origins(raw)
    assert text == normalise(raw)
    assert len(origins) == len(text)
    assert origins == sorted(origins)
    folded = raw.translate({0xFFFE: "-", 0xAD: "-", 0x2010: "-", 0x2011: "-"})
    for char, origin in zip(text, origins, strict=True):
        if not char.isspace():
            assert folded[origin] == char


@given(st.lists(st.sampled_from(TRICKY) | st.text(max_size=3), max_size=40).map("".join))
def test_the_offset_map_normalises_exactly_as_reading_does(raw: str) -> None:
    check_origins(raw)


def test_the_offset_map_matches_every_shared_letter() -> None:
    letters = sorted((shared_root() / "letters").glob("*.pdf"))
    assert len(letters) >= 50
    for path in letters:
        check_origins(pdf_text(path.read_bytes())[0])
    for path in sorted((shared_root() / "seeds").glob("*.txt")):
        check_origins(path.read_text(encoding="utf-8"))


def text_under(path: Path, box: Box) -> str:
    """What pdfium says is printed inside ``box`` (fractions of the page, from its top left)."""
    pdf = pdfium.PdfDocument(path, password="")
    try:
        page = pdf[box.page]
        width, height = page.get_size()
        textpage = page.get_textpage()
        left, right = box.x * width, (box.x + box.w) * width
        top, bottom = height - box.y * height, height - (box.y + box.h) * height
        return str(textpage.get_text_bounded(left, bottom, right, top)).strip()
    finally:
        pdf.close()


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("batch"))


def test_each_decision_box_covers_the_decision_word(batch: Path) -> None:
    pdfs = [record for record in read_batch(batch) if record.document.pages]
    assert sum(len(record.determination.items) for record in pdfs) >= 20
    for record in pdfs:
        path = Path(record.document.path)
        letter = read_letter(path, record.document.sha256)
        assert letter.problem is None
        assert letter.layout is not None
        assert letter.layout.text == read_path(path).text
        for index, item in enumerate(record.determination.items):
            boxes = letter.layout.boxes(record.evidence[f"determination.items[{index}].decision"])
            assert len(boxes) == 1
            assert text_under(path, boxes[0]) == item.decision.value


def test_a_span_over_two_lines_gives_a_box_per_line(batch: Path) -> None:
    record = next(record for record in read_batch(batch) if record.document.pages)
    letter = read_letter(Path(record.document.path), record.document.sha256)
    assert letter.layout is not None
    rationale = letter.layout.boxes(record.evidence["determination.items[0].rationale"])
    assert len(rationale) > 3
    assert all(0 <= box.x < box.x + box.w <= 1 and 0 <= box.y < box.y + box.h <= 1 for box in rationale)
    assert [box.y for box in rationale if box.page == rationale[0].page] == sorted(
        box.y for box in rationale if box.page == rationale[0].page
    )


def test_a_letter_that_changed_or_is_missing_says_so(tmp_path: Path) -> None:
    copy = tmp_path / "letter.pdf"
    copy.write_bytes(require_letter("letters/CM16-0213037.pdf").read_bytes() + b"\n")
    assert read_letter(copy, "0" * 64).problem == (
        "the letter has changed since it was extracted; evidence offsets do not apply"
    )
    assert read_letter(None, "0" * 64).problem is not None
    assert read_letter(tmp_path / "gone.pdf", "0" * 64).problem == "letter cannot be read (input_error)"


def test_the_png_encoder_writes_a_valid_greyscale_image() -> None:
    image = png_grey(bytes(range(12)), 3, 2, 6)
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert image[12:16] == b"IHDR"
    assert image[16:24] == (3).to_bytes(4, "big") + (2).to_bytes(4, "big")
