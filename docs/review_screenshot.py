"""Make docs/review.png, the README's picture of ``extractor review``, with headless Chromium.

The letter is the hand-written synthetic one in evals/fixtures/synthetic/ typeset as a PDF
with pdfium (no real letter's text goes into the repository), extracted with the rules
backend, and shown by the real app:

    .venv/bin/python docs/review_screenshot.py
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as raw
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extractor.jobs import BatchOptions, run_batch  # noqa: E402
from support.review_server import serving  # noqa: E402

LETTER = ROOT / "evals" / "fixtures" / "synthetic" / "many-items.txt"
WIDTH, HEIGHT, MARGIN, SIZE, LEADING = 612.0, 792.0, 72.0, 10.5, 14.0


def typeset(text: str, out: Path) -> None:
    """One line of the letter per printed line, Times 10.5 pt, as the Division's letters look."""
    document = raw.FPDF_CreateNewDocument()
    fonts = {bold: raw.FPDFText_LoadStandardFont(document, b"Times-Bold" if bold else b"Times-Roman")
             for bold in (False, True)}  # fmt: skip
    lines = text.splitlines()
    per_page = int((HEIGHT - 2 * MARGIN) / LEADING)
    for number, start in enumerate(range(0, len(lines), per_page)):
        page = raw.FPDFPage_New(document, number, WIDTH, HEIGHT)
        for row, line in enumerate(lines[start : start + per_page]):
            bold = line.isupper() or line.rstrip().endswith(":")
            obj = raw.FPDFPageObj_CreateTextObj(document, fonts[bold], SIZE)
            encoded = (line.rstrip() + "\x00").encode("utf-16-le")
            raw.FPDFText_SetText(obj, ctypes.cast(ctypes.c_char_p(encoded), ctypes.POINTER(raw.FPDF_WCHAR)))
            raw.FPDFPageObj_Transform(obj, 1, 0, 0, 1, MARGIN, HEIGHT - MARGIN - (row + 1) * LEADING)
            raw.FPDFPage_InsertObject(page, obj)
        raw.FPDFPage_GenerateContent(page)
        raw.FPDF_ClosePage(page)
    pdfium.PdfDocument(document).save(out)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # so that the record names the letter as letters/CM17-0094412.pdf
        Path("letters").mkdir()
        typeset(LETTER.read_text(encoding="utf-8"), Path("letters/CM17-0094412.pdf"))
        run_batch(["letters/CM17-0094412.pdf"], BatchOptions(out=Path("out"), backend="rules", workers=1))
        with serving(Path("out/records.jsonl")) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            tab = browser.new_page(viewport={"width": 1500, "height": 900})
            tab.goto(url)
            tab.wait_for_selector(".page img")
            tab.click('.field[data-path="determination.items[2].decision"]')
            tab.wait_for_timeout(500)
            tab.screenshot(path=str(ROOT / "docs" / "review.png"))
            browser.close()


if __name__ == "__main__":
    main()
