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
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractor import extract
from extractor.errors import BinaryDocument
from extractor.reading import read_path

MiB = 1024 * 1024
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
    assert result.returncode == 0, result.stderr[-2000:]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    return (
        {line["document"]["path"]: line["error"]["type"] for line in errors},
        sorted(record["document"]["path"] for record in records),
    )


# --- inputs that are not regular files -----------------------------------------------------


@pytest.fixture
def not_files(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """A FIFO, a character device, a directory and a socket, each named like a letter."""
    fifo, folder, sock = tmp_path / "fifo.txt", tmp_path / "folder.pdf", tmp_path / "socket.txt"
    os.mkfifo(fifo)
    folder.mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    try:
        yield {
            "a named pipe (FIFO)": fifo,
            "a character device": Path("/dev/zero"),
            "a directory": folder,
            "a socket": sock,
        }
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
