"""Batch inputs: odd file names, and one file under several names.

The batch runs as ``python -m extractor batch`` in its own process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor.jobs import BatchOptions, expand, run_batch
from extractor.jobs.inputs import identity, printable
from tests.documents import shared_root

SECONDS = 60  # no run may take longer: a hang fails instead of blocking the suite


@pytest.fixture(scope="module")
def letters() -> list[Path]:
    found = sorted((shared_root() / "letters").glob("*.pdf"))
    if len(found) < 50:
        pytest.fail(f"the sample letters are missing from {shared_root()}", pytrace=False)
    return found


def command(*inputs: str | Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "extractor", "batch", *map(str, inputs), "--out", str(out),
            "--backend", "rules", "--workers", "2", "-q"]  # fmt: skip


_STARTED: list[int] = []
"""The process groups of the batches started, each led by its batch process."""


@pytest.fixture(autouse=True)
def _no_batch_outlives_its_test() -> Iterator[None]:
    """A failed test must not leave workers behind (which is what they used to do)."""
    yield
    while _STARTED:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(_STARTED.pop(), signal.SIGKILL)


def start(arguments: list[str], cwd: Path | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    process = subprocess.Popen(
        arguments, cwd=cwd, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _STARTED.append(process.pid)
    return process


def run(arguments: list[str], cwd: Path | None = None) -> str:
    """Run a batch to the end; its stderr."""
    process = start(arguments, cwd)
    _, stderr = process.communicate(timeout=SECONDS)
    assert process.returncode == 0, stderr
    return stderr


def entries(out: Path) -> list[dict[str, Any]]:
    """Every whole line of records.jsonl and errors.jsonl."""
    found = []
    for name in ("records.jsonl", "errors.jsonl"):
        data = (out / name).read_bytes() if (out / name).exists() else b""
        found += [json.loads(line) for line in data.split(b"\n")[:-1]]
    return found


def assert_summary_matches(out: Path, inputs: int) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    lines = entries(out)
    assert summary["inputs"] == inputs
    assert summary["records"] + summary["errors"] == len(lines)
    status = summary["status"]
    assert status["skipped"] + status["done"] + status["failed"] <= inputs
    return summary


def test_a_file_name_that_is_not_utf8_is_recorded_escaped(letters: list[Path], tmp_path: Path) -> None:
    seed_letter = next((shared_root() / "seeds").glob("000_*.txt"))
    folder = tmp_path / "in"
    folder.mkdir()
    odd = os.path.join(os.fsencode(folder), b"bad\xffname.txt")
    with open(odd, "wb") as stream:
        stream.write(seed_letter.read_bytes())
    shutil.copyfile(letters[0], folder / "plain.pdf")
    listed = tmp_path / "list.txt"
    listed.write_bytes(odd + b"\n")
    out = tmp_path / "out"

    for arguments in ([folder], [folder], [f"@{listed}"]):  # a rerun and a list skip it
        run(command(*arguments, out=out))

    (record,) = (e for e in entries(out) if "bad" in Path(e["document"]["path"]).name)
    assert record["document"]["path"] == f"{folder}/bad\\xffname.txt"
    assert record["determination"]["items"]
    summary = assert_summary_matches(out, 1)  # the last run named the one file
    assert (summary["records"], summary["status"]["skipped"]) == (2, 1)
    assert printable(os.fsdecode(odd)) == record["document"]["path"]


def test_one_file_under_several_names_is_one_input(letters: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for letter in letters[:3]:
        shutil.copyfile(letter, folder / letter.name)
    (tmp_path / "link").symlink_to(folder)
    out = tmp_path / "out"

    run(command("in", out=out), cwd=tmp_path)
    for spelling in ([str(folder)], ["link"], ["in", "link", f"{folder}/../in/{letters[0].name}"]):
        run(command(*spelling, out=out), cwd=tmp_path)
        summary = assert_summary_matches(out, 3)
        assert (summary["records"], summary["status"]["skipped"]) == (3, 3), spelling
    assert sorted(e["document"]["path"] for e in entries(out)) == [f"in/{p.name}" for p in letters[:3]]


def test_one_file_named_twice_in_one_run_is_done_once(letters: list[Path], tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    shutil.copyfile(letters[0], tmp_path / "in" / "a.pdf")
    (tmp_path / "b.pdf").symlink_to(tmp_path / "in" / "a.pdf")
    paths = expand([str(tmp_path / "in"), str(tmp_path / "b.pdf")])
    assert identity(paths[0]) == identity(paths[1])

    summary = run_batch(paths, BatchOptions(out=tmp_path / "out", workers=1))
    assert (summary["inputs"], summary["records"]) == (1, 1)
