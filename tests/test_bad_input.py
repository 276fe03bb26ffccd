"""Bad input: one clear line on stderr naming the file and the reason, exit 2, good files still done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfWriter

from extractor import extract
from extractor.errors import (
    BinaryDocument,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedPDF,
    NotAnIMRLetter,
    TruncatedLetter,
    UnreadablePDF,
)
from extractor.reading import read_path
from tests.documents import require_letter


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return subprocess.run(
        [sys.executable, "-m", "extractor", "extract", "--backend", "rules", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "empty": tmp_path / "empty.txt",
        "random": tmp_path / "random.pdf",
        "not_imr": tmp_path / "recipe.txt",
        "binary": tmp_path / "blob.txt",
        "encrypted": tmp_path / "locked.pdf",
        "truncated": tmp_path / "truncated.txt",
        "huge": tmp_path / "huge.txt",
    }
    files["empty"].write_bytes(b"")
    files["random"].write_bytes(os.urandom(4096))
    files["not_imr"].write_text("Pancakes\nMix flour, eggs and milk.\nFry on a hot pan.\n")
    files["binary"].write_bytes(b"\x00\x01\x02" * 1000)
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret")
    with files["encrypted"].open("wb") as handle:
        writer.write(handle)
    letter = read_path(require_letter("letters/CM16-0213037.pdf")).text
    files["truncated"].write_text(letter[: letter.index("IMR ISSUES")])
    with files["huge"].open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    return files


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("empty", EmptyDocument),
        ("random", UnreadablePDF),
        ("not_imr", NotAnIMRLetter),
        ("binary", BinaryDocument),
        ("encrypted", EncryptedPDF),
        ("truncated", TruncatedLetter),
        ("huge", DocumentTooLarge),
    ],
)
def test_library_raises_typed_error(bad_files: dict[str, Path], name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        extract(bad_files[name])


def test_cli_reports_each_bad_file_on_one_line_and_keeps_the_good_ones(bad_files: dict[str, Path]) -> None:
    good = require_letter("letters/CM16-0213037.pdf")
    paths = [str(p) for p in bad_files.values()]
    result = _run("--format", "jsonl", paths[0], str(good), *paths[1:])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(paths)
    for path, line in zip(paths, lines, strict=True):
        assert line.startswith(f"{path}: ")
        assert len(line.split(": ")) >= 3
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["document"]["id"] for r in records] == ["CM16-0213037"]


def test_bad_input_message_never_quotes_the_letter(bad_files: dict[str, Path]) -> None:
    result = _run(str(bad_files["truncated"]))
    assert result.returncode == 2
    assert "injured worker" not in result.stderr.lower()
    assert "truncated" in result.stderr
