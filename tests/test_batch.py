"""Batch jobs with the rules backend: the output files, resuming, torn lines, retries, export."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from extractor.cli import main
from extractor.errors import WorkerCrashed
from extractor.jobs import BatchOptions, LedgerError, expand, run_batch
from extractor.jobs.ledger import Ledger
from extractor.jobs.runner import _Pool
from extractor.schemas import Record
from tests.documents import require_letter

LETTERS = ["CM16-0213037.pdf", "CM16-0219557.pdf", "CM16-0230548.pdf", "CM16-0231706.pdf", "CM16-0231884.pdf"]
BAD = {"empty.pdf": "empty_document", "random.pdf": "unreadable_pdf", "shopping.txt": "not_imr_letter"}


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """Five letters (two in a subfolder), a seed letter, three bad files and one that is no letter."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for index, name in enumerate(LETTERS):
        shutil.copyfile(require_letter(f"letters/{name}"), folder / ("sub" if index < 2 else ".") / name)
    shutil.copyfile(require_letter("seeds/000_bcbad93b04dfc64b.txt"), folder / "seed.txt")
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "random.pdf").write_bytes(random.Random(5).randbytes(4096))
    (folder / "shopping.txt").write_text("milk\neggs\nbread\n")
    (folder / "notes.md").write_text("not a letter: neither .pdf nor .txt\n")
    return folder


def batch(inputs: list[str | Path], out: Path, **options: Any) -> dict[str, Any]:
    return run_batch(expand([str(i) for i in inputs]), BatchOptions(out=out, workers=2, **options))


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def paths_done(out: Path) -> Counter[str]:
    """How often each input path appears in records.jsonl and errors.jsonl together."""
    entries = lines(out / "records.jsonl") + lines(out / "errors.jsonl")
    return Counter(entry["document"]["path"] for entry in entries)


def cli(*args: str) -> int:
    return main(list(args))


def test_a_folder_gives_records_and_typed_errors(inbox: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = batch([inbox], out)

    assert summary["status"] == {"done": 6, "failed": 3, "skipped": 0, "prepared": 0, "pending": 0}
    records = [Record.model_validate(entry) for entry in lines(out / "records.jsonl")]
    assert sorted(Path(r.document.path).name for r in records) == sorted([*LETTERS, "seed.txt"])
    errors = {Path(e["document"]["path"]).name: e for e in lines(out / "errors.jsonl")}
    assert {name: e["error"]["type"] for name, e in errors.items()} == BAD
    for error in errors.values():
        assert error["error"]["message"]
        assert len(error["document"]["sha256"]) == 64
    assert errors["shopping.txt"]["document"]["chars"] > 0  # read, then refused: all that is known

    items = sum(len(r.determination.items) for r in records)
    with open(out / "items.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == items == summary["items"] == summary["upheld"] + summary["overturned"]
    assert summary["records"] == 6
    assert summary["errors"] == 3
    assert summary["errors_by_type"] == dict.fromkeys(BAD.values(), 1)
    assert summary["needs_review"] == sum(r.needs_review for r in records)
    assert summary["backend"] == "rules"
    assert summary["letters_per_second"] > 0


def test_a_rerun_skips_everything(inbox: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    batch([inbox], out)
    before = (out / "records.jsonl").read_bytes(), (out / "errors.jsonl").read_bytes()

    summary = batch([inbox], out)

    assert summary["status"]["skipped"] == 9
    assert summary["status"]["done"] == summary["status"]["failed"] == 0
    assert ((out / "records.jsonl").read_bytes(), (out / "errors.jsonl").read_bytes()) == before
    assert summary["records"] == 6
    assert summary["errors"] == 3


def test_a_torn_last_line_is_cut_and_its_letter_redone(inbox: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    batch([inbox], out)
    records = out / "records.jsonl"
    whole = records.read_bytes()
    records.write_bytes(whole[: len(whole) - 300])  # killed in the middle of the last write
    with open(out / "errors.jsonl", "ab") as stream:
        stream.write(b'{"document": {"path": "')

    summary = batch([inbox], out)

    assert summary["status"]["done"] == 1
    assert summary["status"]["skipped"] == 8
    assert set(paths_done(out).values()) == {1}
    assert len(paths_done(out)) == 9
    assert records.read_bytes().endswith(b"\n")
    assert (out / "errors.jsonl").read_bytes().endswith(b"\n")


def test_retry_errors_redoes_failures_and_replaces_their_lines(inbox: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    batch([inbox], out)
    # As if one good letter had failed earlier (say a transient fault): an error line with its key.
    records = lines(out / "records.jsonl")
    victim = records.pop()
    (out / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    failure = {"document": {"path": victim["document"]["path"], "sha256": victim["document"]["sha256"]}}
    with open(out / "errors.jsonl", "a") as stream:
        stream.write(json.dumps({**failure, "error": {"type": "llm_timeout", "message": "no answer"}}) + "\n")

    assert batch([inbox], out)["status"]["skipped"] == 9  # an error counts as done...
    summary = batch([inbox], out, retry_errors=True)  # ...until retried

    assert summary["status"] == {"done": 1, "failed": 3, "skipped": 5, "prepared": 0, "pending": 0}
    assert set(paths_done(out).values()) == {1}
    assert len(paths_done(out)) == 9
    assert {e["error"]["type"] for e in lines(out / "errors.jsonl")} == set(BAD.values())


def test_a_changed_file_is_redone_and_its_old_line_dropped(inbox: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    batch([inbox], out)
    shutil.copyfile(require_letter("letters/CM17-0001749.pdf"), inbox / "empty.pdf")

    summary = batch([inbox], out)

    assert summary["status"]["done"] == 1
    assert summary["status"]["skipped"] == 8
    assert set(paths_done(out).values()) == {1}
    assert "empty_document" not in summary["errors_by_type"]
    assert summary["records"] == 7


def test_a_list_file_names_files_and_folders(
    inbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    listing = tmp_path / "letters.txt"
    listing.write_text(f"# letters to do\nin/sub\n\nin/{LETTERS[2]}\n  in/missing.pdf  \nin/sub\n")
    out = tmp_path / "out"

    summary = batch([f"@{listing}"], out)

    assert summary["inputs"] == 4  # the folder's two, one file, one missing; duplicates once
    (missing,) = lines(out / "errors.jsonl")
    assert missing["document"] == {"path": "in/missing.pdf", "sha256": None}
    assert missing["error"]["type"] == "input_error"
    assert batch([f"@{listing}"], out)["status"]["skipped"] == 4

    shutil.copyfile(require_letter(f"letters/{LETTERS[3]}"), inbox / "missing.pdf")
    summary = batch([f"@{listing}"], out)
    assert summary["status"]["done"] == 1
    assert summary["errors"] == 0
    assert summary["records"] == 4


def test_inputs_that_name_nothing_stop_the_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("batch", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"), "--backend", "rules") == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert cli("batch", f"@{tmp_path / 'no-list.txt'}", "--out", str(tmp_path / "out")) == 2
    assert "no such list file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_command_line_writes_the_job_and_export_rewrites_items_csv(
    inbox: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert cli("batch", str(inbox), "--out", str(out), "--backend", "rules", "--workers", "2") == 2
    assert "6 done, 3 failed" in capsys.readouterr().err  # 2: some letter gave no record
    made = (out / "items.csv").read_bytes()

    assert cli("export", str(out / "records.jsonl"), "--csv", str(tmp_path / "again.csv")) == 0
    assert (tmp_path / "again.csv").read_bytes() == made
    assert cli("export", str(tmp_path / "none.jsonl"), "--csv", str(tmp_path / "x.csv")) == 2


def test_a_bad_line_before_good_ones_is_not_guessed_at(inbox: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    batch([inbox], out)
    records = (out / "records.jsonl").read_text().splitlines(keepends=True)
    (out / "records.jsonl").write_text("".join([records[0], "not json\n", *records[1:]]))

    with pytest.raises(LedgerError, match="line 2"):
        batch([inbox], out)


def test_two_runs_cannot_write_one_job(tmp_path: Path) -> None:
    first = Ledger(tmp_path / "out")
    try:
        with pytest.raises(LedgerError, match="another batch"):
            Ledger(tmp_path / "out")
    finally:
        first.close()
    Ledger(tmp_path / "out").close()  # the lock goes with the run


def test_a_dead_worker_fails_its_letter_and_the_pool_goes_on() -> None:
    async def crash_then_work() -> int:
        with _Pool(1) as pool:
            with pytest.raises(WorkerCrashed):
                await pool.run(os._exit, 1)  # dies in the worker, and again in the new one
            return await pool.run(os.getpid)

    assert asyncio.run(crash_then_work()) != os.getpid()
