"""Hostile input: inputs that are not files, text that is not UTF-8, small PDFs that explode.

Every hostile file is built here at run time.  Each test states its bound: a typed one-line
error (or the same record as the UTF-8 original), in under 1 GiB of memory, and a subprocess
timeout that only guards against a hang, so a regression fails instead of stalling the suite.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from extractor import extract
from extractor.errors import BinaryDocument, EmptyDocument, NotARegularFile, PDFTooComplex
from extractor.reading import read_path

MiB = 1024 * 1024
MEMORY_BOUND = 1024 * MiB
"""No process reading any input under 20 MB may get larger than this."""
HANG_GUARD = 120
"""Seconds a subprocess gets before the test fails as hung (a limit ends it in under 10)."""
GUARD_ADDRESS_SPACE = 4096 * MiB
"""What each subprocess may map at most, so a broken limit fails the test, not the machine."""
ENCODINGS = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]


def _shared(folder: str) -> Path:
    """A folder of the shared documents (read at test time, never copied into the repository)."""
    root = Path(os.environ.get("IMR_DOCUMENTS") or Path(__file__).resolve().parents[2] / "shared")
    if not (root / folder).is_dir():
        pytest.fail(f"{root / folder} is missing: the tests read the shared letters", pytrace=False)
    return root / folder


@pytest.fixture
def letter() -> Path:
    return _shared("letters") / "CM16-0213037.pdf"


@pytest.fixture
def seed() -> Path:
    return min(_shared("seeds").glob("*.txt"))


def _guarded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (GUARD_ADDRESS_SPACE, GUARD_ADDRESS_SPACE))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return subprocess.run(
        [sys.executable, "-m", "extractor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=HANG_GUARD,
        preexec_fn=_guarded,
    )


def _batch(out: Path, *inputs: str) -> tuple[dict[str, str], list[str]]:
    """Run ``extractor batch``: the error type of each input in errors.jsonl, and the paths
    that got a record."""
    result = _cli("batch", *inputs, "--out", str(out), "--backend", "rules", "-q")
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert result.returncode == (2 if errors else 0), result.stderr[-2000:]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    return (
        {line["document"]["path"]: line["error"]["type"] for line in errors},
        sorted(record["document"]["path"] for record in records),
    )


# --- inputs that are not regular files -----------------------------------------------------


@pytest.fixture
def not_files(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A FIFO, a character device and a socket, each named like a letter."""
    fifo, sock = tmp_path / "fifo.txt", tmp_path / "socket.txt"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    try:
        yield {"a named pipe (FIFO)": fifo, "a character device": Path("/dev/zero"), "a socket": sock}
    finally:
        server.close()


def test_extract_refuses_what_is_not_a_regular_file(not_files: dict[str, Path], letter: Path) -> None:
    """Each gives `PATH: not_a_regular_file: is a ...` at once (a FIFO used to block forever)."""
    paths = [str(path) for path in not_files.values()]
    result = _cli("extract", "--backend", "rules", "--format", "jsonl", *paths, str(letter))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(paths)
    for (what, path), line in zip(not_files.items(), lines, strict=True):
        assert line == f"{path}: not_a_regular_file: is {what}, not a regular file"
    assert [json.loads(line)["document"]["id"] for line in result.stdout.splitlines()] == ["CM16-0213037"]


def test_reading_a_directory_as_a_letter_is_refused(tmp_path: Path) -> None:
    """(The CLI takes a folder as its letters; a path read as one file must be a file.)"""
    folder = tmp_path / "letter.pdf"
    folder.mkdir()
    with pytest.raises(NotARegularFile, match=r"^is a directory, not a regular file$"):
        read_path(folder)


def test_batch_refuses_a_fifo_and_a_device_and_finishes_the_rest(
    tmp_path: Path, not_files: dict[str, Path], letter: Path, seed: Path
) -> None:
    """A FIFO used to block the batch, /dev/zero to be hashed forever: one error line each."""
    hostile = [str(not_files["a named pipe (FIFO)"]), "/dev/zero"]
    errors, recorded = _batch(tmp_path / "out", *hostile, str(letter), str(seed))
    assert errors == dict.fromkeys(hostile, "not_a_regular_file")
    assert recorded == sorted([str(letter), str(seed)])


# --- UTF-16 and UTF-32 text ----------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_utf16_and_utf32_letters_give_the_utf8_record(tmp_path: Path, seed: Path, encoding: str) -> None:
    """With a BOM (utf-16, utf-32) or without one (-le, -be): the same text, the same record."""
    wide = tmp_path / f"letter-{encoding}.txt"
    wide.write_bytes(seed.read_text(encoding="utf-8").encode(encoding))
    assert read_path(wide).text == read_path(seed).text
    original, decoded = extract(seed, backend="rules"), extract(wide, backend="rules")
    assert decoded.determination == original.determination
    assert decoded.needs_review == original.needs_review


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_wide_text_beyond_ascii_decodes(tmp_path: Path, encoding: str) -> None:
    text = "Décision — “Upheld”, naïve café, ½ dose\n" * 50
    path = tmp_path / "note.txt"
    path.write_bytes(text.encode(encoding))
    assert read_path(path).text == "\n".join(text.splitlines())


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02" * 1000,  # NUL bytes in no UTF-16/32 pattern
        b"\x01\x00" * 1000,  # the UTF-16 LE pattern, but control characters
        b"\xff\xfe" + b"\x00\xd8" * 10,  # a UTF-16 BOM, then lone surrogates
        bytes(range(256)) * 16,
    ],
)
def test_binary_is_still_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "blob.txt"
    path.write_bytes(data)
    with pytest.raises(BinaryDocument):
        read_path(path)


# --- small PDFs that explode ---------------------------------------------------------------


def _pdf(*objects: bytes) -> bytes:
    """A PDF of ``objects`` (object 1 the catalog) with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(entries: bytes, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (entries, len(data), data)


def _one_page(resources: bytes, content: bytes, *more: bytes) -> bytes:
    """A one-page PDF: catalog, pages, the page (objects 1-3), its content (4), then ``more``."""
    return _pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << %s >> /Contents 4 0 R >>"
        % resources,
        content,
        *more,
    )


def recursive_forms() -> bytes:
    """The page draws form A; A draws B twice, B draws A twice: 2^depth draws (~700 bytes)."""
    form = b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /XObject << /%s %d 0 R >> >>"
    return _one_page(
        b"/XObject << /A 5 0 R >>",
        _stream(b"", b"q /A Do Q"),
        _stream(form % (b"B", 6), b"q /B Do Q q /B Do Q"),
        _stream(form % (b"A", 5), b"q /A Do Q q /A Do Q"),
    )


def flate_bomb(mebibytes: int) -> bytes:
    """A page whose content stream inflates to ``mebibytes`` MiB of spaces from ~1/1000 of that.

    Each MiB is compressed once after a full flush, so its deflate blocks repeat verbatim."""
    chunk = b" " * MiB
    packer = zlib.compressobj(9)
    first = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(mebibytes):
        checksum = zlib.adler32(chunk, checksum)
    data = first + again * (mebibytes - 1) + b"\x03\x00" + checksum.to_bytes(4, "big")  # final empty block
    return _one_page(b"", _stream(b"/Filter /FlateDecode", data))


def blank_page() -> bytes:
    return _one_page(b"", _stream(b"", b""))


def image_only_page() -> bytes:
    """A scan: one image drawn over the page, no text layer."""
    image = _stream(
        b"/Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8",
        b"\x80",
    )
    return _one_page(b"/XObject << /Im 5 0 R >>", _stream(b"", b"q 612 0 0 792 0 0 cm /Im Do Q"), image)


def test_the_flate_bomb_inflates_to_what_it_says() -> None:
    assert zlib.decompress(flate_bomb(3).split(b"stream\n")[1].rsplit(b"\nendstream")[0]) == b" " * 3 * MiB


_READ_AND_MEASURE = """
import json, resource, sys
from extractor.errors import ExtractionError
from extractor.reading import read_path
try:
    read_path(sys.argv[1])
    outcome = {"kind": None}
except ExtractionError as error:
    outcome = {"kind": error.kind, "message": error.message}
usage = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
outcome["peak_bytes"] = 1024 * max(usage)
print(json.dumps(outcome))
"""


def _read_in_subprocess(path: Path, **env: str) -> dict[str, object]:
    """read_path(path) in a fresh interpreter: the typed outcome and the peak memory of any
    process it ran (itself and its reader)."""
    result = subprocess.run(
        [sys.executable, "-c", _READ_AND_MEASURE, str(path)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        env={**os.environ, **env},
        preexec_fn=_guarded,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome: dict[str, object] = json.loads(result.stdout)
    return outcome


@pytest.mark.parametrize(
    ("name", "build"),
    [("recursive-forms.pdf", recursive_forms), ("flate-bomb.pdf", lambda: flate_bomb(1024))],
)
def test_a_small_hostile_pdf_is_refused_in_bounded_memory(
    tmp_path: Path, name: str, build: Callable[[], bytes]
) -> None:
    """~700 bytes that grow to ~20 GB, 1 MB that inflates to 1 GiB: pdf_too_complex, under 1 GiB."""
    path = tmp_path / name
    path.write_bytes(build())
    assert path.stat().st_size < 2 * MiB
    outcome = _read_in_subprocess(path)
    assert outcome["kind"] == "pdf_too_complex"
    assert "memory" in str(outcome["message"])
    assert "\n" not in str(outcome["message"])
    assert isinstance(outcome["peak_bytes"], int)
    assert outcome["peak_bytes"] < MEMORY_BOUND


def test_a_pdf_that_burns_cpu_stops_at_the_time_limits(tmp_path: Path) -> None:
    """With memory to spare (2 GiB), the recursion meets the CPU limit (1 s) or, on a machine
    too busy to give it that second, the wall-clock deadline (3 s) instead."""
    path = tmp_path / "recursive-forms.pdf"
    path.write_bytes(recursive_forms())
    outcome = _read_in_subprocess(path, EXTRACTOR_PDF_MEMORY_MB="2048", EXTRACTOR_PDF_CPU_SECONDS="1")
    assert outcome["kind"] == "pdf_too_complex"
    assert str(outcome["message"]) in {
        "reading needed over 1 s of CPU time (the limit)",
        "reading took over 3 s (the limit)",
    }


def test_after_a_hostile_pdf_the_same_process_reads_letters(tmp_path: Path, letter: Path) -> None:
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(flate_bomb(1024))
    expected = read_path(letter)
    with pytest.raises(PDFTooComplex):
        read_path(bomb)
    assert read_path(letter) == expected


def test_no_text_is_reported_only_when_the_pdf_has_none(tmp_path: Path) -> None:
    """A blank page and a scan each say what they are; a bomb is not 'no text'."""
    blank, scan, bomb = tmp_path / "blank.pdf", tmp_path / "scan.pdf", tmp_path / "bomb.pdf"
    blank.write_bytes(blank_page())
    scan.write_bytes(image_only_page())
    bomb.write_bytes(flate_bomb(200))  # inflates within the limit, but far past any letter
    with pytest.raises(EmptyDocument, match="no text and no images"):
        read_path(blank)
    with pytest.raises(EmptyDocument, match="images"):
        read_path(scan)
    with pytest.raises(PDFTooComplex):
        read_path(bomb)


def test_batch_reports_exploding_pdfs_and_finishes_the_rest(tmp_path: Path, letter: Path, seed: Path) -> None:
    """Each gets its line in errors.jsonl (no worker dies, no pool restarts); the letters their records."""
    hostile = [tmp_path / "recursive.pdf", tmp_path / "bomb.pdf"]
    hostile[0].write_bytes(recursive_forms())
    hostile[1].write_bytes(flate_bomb(1024))
    errors, recorded = _batch(tmp_path / "out", *map(str, hostile), str(letter), str(seed))
    assert errors == dict.fromkeys(map(str, hostile), "pdf_too_complex")
    assert recorded == sorted([str(letter), str(seed)])
