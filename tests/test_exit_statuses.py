"""Exit statuses and notes a pipeline can use, run as a user runs the commands (a subprocess):
a batch with a letter that gave no record, an unusable -o, an empty folder, -v's per-letter lines,
and a hybrid extract saying, on a terminal only, which part the model is asked about."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.fake_openai import FakeOpenAI, perfect
from tests.documents import require_letter
from tests.test_readme import README, env

LETTER = "letters/CM16-0213037.pdf"


def extractor(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "extractor", *args],
        capture_output=True,
        text=True,
        env=env(),
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """A good letter and a file that is none."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.pdf").write_bytes(require_letter(LETTER).read_bytes())
    (folder / "empty.pdf").write_bytes(b"")
    return folder


def test_a_batch_with_a_letter_that_gave_no_record_exits_2_and_writes_the_others(
    inbox: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = extractor("batch", str(inbox), "--out", str(out), "-q", "--workers", "1")
    assert run.returncode == 2, run.stderr
    (record,) = (json.loads(line) for line in (out / "records.jsonl").read_text().splitlines())
    assert record["document"]["path"].endswith("good.pdf")
    assert json.loads((out / "errors.jsonl").read_text())["document"]["path"].endswith("empty.pdf")
    (inbox / "empty.pdf").unlink()
    assert extractor("batch", str(inbox), "--out", str(tmp_path / "good"), "-q").returncode == 0
    usage = extractor("batch", "--help").stdout
    assert "2 when any gave none" in usage
    assert "`extractor batch` exits 2 when any letter gave no record" in README


@pytest.mark.parametrize("command", ["extract", "text"])
def test_an_unusable_output_is_one_line_and_exit_2(command: str, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "x.json"
    run = extractor(command, "-o", str(target), str(require_letter(LETTER)))
    assert run.returncode == 2
    assert (
        run.stderr.strip().splitlines()[-1]
        == f"extractor {command}: no such folder: {target.parent}; create it first"
    )
    assert "Traceback" not in run.stderr


def test_an_empty_folder_is_said_and_exits_2(tmp_path: Path) -> None:
    run = extractor("extract", "-q", str(tmp_path))
    assert run.returncode == 2
    assert f"{tmp_path}: no letters (.pdf or .txt) in this folder" in run.stderr


def test_verbose_logs_each_letter_s_time_and_counts_never_its_text(inbox: Path, tmp_path: Path) -> None:
    good = inbox / "good.pdf"
    request = json.loads(extractor("extract", "-q", str(good)).stdout)["determination"]["items"][0]["request"]
    for args in (
        ("extract", "-q", "-v", str(good)),
        ("-v", "batch", str(good), "--out", str(tmp_path / "o"), "-q"),
    ):
        run = extractor(*args)
        assert run.returncode == 0, run.stderr
        assert f"INFO extractor.pipeline: {good}: rules in " in run.stderr
        assert " 2 items, 5 diagnoses, " in run.stderr
        assert request not in run.stderr


def _stderr_on_a_terminal(args: list[str], environment: dict[str, str]) -> str:
    """Run ``extractor ARGS`` with stderr on a pseudo-terminal; what it wrote there."""
    import pty

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "extractor", *args], stdout=subprocess.DEVNULL, stderr=slave, env=environment
    )
    os.close(slave)
    written = b""
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        while chunk := os.read(master, 4096):
            written += chunk
    os.close(master)
    assert process.wait(timeout=120) == 0, written.decode(errors="replace")
    return written.decode(errors="replace")


def test_a_hybrid_extract_on_a_terminal_says_which_part_it_is_asking_about() -> None:
    letter = str(require_letter(LETTER))
    with FakeOpenAI(default=perfect) as fake:
        environment = {**env(), "OPENAI_API_KEY": "sk-test"}
        args = ["extract", "--backend", "hybrid", "--llm-scope", "all", "--base-url", fake.base_url, letter]
        said = _stderr_on_a_terminal(args, environment)
        piped = subprocess.run(
            [sys.executable, "-m", "extractor", *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
        )
    assert f"extractor extract: {letter}: asking the model about the case summary (1 of 3)" in said
    assert f"extractor extract: {letter}: asking the model about item 2 (3 of 3)" in said
    assert piped.returncode == 0, piped.stderr
    assert "asking the model" not in piped.stderr  # quiet when not a terminal
