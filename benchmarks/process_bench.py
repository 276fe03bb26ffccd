"""Whole processes: ``extractor extract --backend rules`` over many letters against bare pypdfium2
text extraction of the same files, and the cold start for one letter.

    python -m benchmarks.process_bench [--documents ../shared] [--copies 4] [--rounds 5]

The bare baseline is one process that opens each PDF as the extractor does (an empty user
password), gets every page's text and writes it to a file.  Each round runs both on the same
files, in turns (which goes first alternates), over the letters once and over ``--copies``
copies of them; the figure is the median of the rounds' ratios, so a busy moment on a shared
machine moves one round, not the result.  A copy of a letter is another file with the same
text, so its diagnoses are coded from the process's memo the second time.  Prints figures and
the goals (at most 1.25x over many letters, 3x for the cold start); asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cold_start import GOAL as COLD_GOAL
from benchmarks.cold_start import LETTER, cold_start

GOAL = 1.25
BARE = """
import sys
import pypdfium2 as pdfium

with open(sys.argv[1], "w", encoding="utf-8") as out:
    for name in sys.argv[2:]:
        with open(name, "rb") as stream:
            pdf = pdfium.PdfDocument(stream.read(), password="")
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            out.write(textpage.get_text_range())
            textpage.close()
            page.close()
        pdf.close()
"""


def _seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _ratios(files: list[Path], out: Path, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds of the bare extraction and of ``extractor extract`` over ``files``, per round."""
    bare = [sys.executable, "-c", BARE, str(out / "bare.txt"), *map(str, files)]
    extract = [sys.executable, "-m", "extractor", "extract", "--backend", "rules", "-q"]
    extract += ["-o", str(out / "records.json"), *map(str, files)]
    _seconds(bare), _seconds(extract)  # warm the file cache for both
    bares, extracts = [], []
    for turn in range(rounds):
        first, second = (bare, extract) if turn % 2 == 0 else (extract, bare)
        times = {id(first): _seconds(first), id(second): _seconds(second)}
        bares.append(times[id(bare)])
        extracts.append(times[id(extract)])
    return bares, extracts


def _report(label: str, bares: list[float], extracts: list[float]) -> None:
    ratio = statistics.median(e / b for b, e in zip(bares, extracts, strict=True))
    print(
        f"{label:<24} bare {statistics.median(bares):6.2f} s  extract {statistics.median(extracts):6.2f} s"
        f"  ratio {ratio:5.2f}  (median of {len(bares)}; goal: at most {GOAL:g})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    letters = sorted((args.documents / "letters").glob("*.pdf"))
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        copies = []
        for copy in range(args.copies):
            for letter in letters:
                copies.append(out / f"{letter.stem}-{copy}.pdf")
                shutil.copyfile(letter, copies[-1])
        _report(f"{len(letters)} letters", *_ratios(letters, out, args.rounds))
        _report(f"{len(copies)} letters ({args.copies} copies)", *_ratios(copies, out, args.rounds))
    base_s, full_s = cold_start(args.documents / "letters" / LETTER.name, args.rounds)
    print(
        f"{'cold start, one letter':<24} imports {base_s:5.2f} s  extract {full_s:6.2f} s"
        f"  ratio {full_s / base_s:5.2f}  (median of {args.rounds}; goal: at most {COLD_GOAL:g})"
    )


if __name__ == "__main__":
    main()
