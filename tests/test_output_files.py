"""What the extractor writes: never a device, FIFO or folder replaced; no cell a spreadsheet runs.

FIFOs stand in for device nodes (tests may run as root, and a regression must not replace
/dev/null); both are refused by the same check on the file's type.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractor import extract
from extractor.cli import main
from extractor.errors import UnsafeTarget
from extractor.export import spreadsheet_safe, write_items_csv
from extractor.jobs.ledger import write_atomically
from tests.analytics_records import hostile, write_batch
from tests.documents import require_letter

BOUND = 60


@pytest.fixture
def records(tmp_path: Path) -> Path:
    record = extract(require_letter("seeds/000_bcbad93b04dfc64b.txt"))
    path = tmp_path / "records.jsonl"
    path.write_text(record.model_dump_json() + "\n")
    return path


def test_a_fifo_or_folder_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    fifo, folder = tmp_path / "null", tmp_path / "folder"
    os.mkfifo(fifo)
    folder.mkdir()
    for target in (fifo, folder):
        with pytest.raises(UnsafeTarget, match="not a regular file"):
            write_atomically(target, lambda stream: stream.write("x"))
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert folder.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "null"]  # no temporary left


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real, link = tmp_path / "real.csv", tmp_path / "link.csv"
    real.write_text("old\n")
    link.symlink_to(real)
    write_atomically(link, lambda stream: stream.write("new\n"))
    assert link.is_symlink()
    assert real.read_text() == "new\n"

    to_fifo = tmp_path / "to-fifo"
    os.mkfifo(tmp_path / "fifo")
    to_fifo.symlink_to(tmp_path / "fifo")
    with pytest.raises(UnsafeTarget):
        write_atomically(to_fifo, lambda stream: stream.write("x"))
    assert to_fifo.is_symlink()
    assert stat.S_ISFIFO((tmp_path / "fifo").stat().st_mode)


def test_export_to_a_fifo_is_one_line_and_exit_2(
    records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "d" / "null"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    assert main(["export", str(records), "--csv", str(fifo)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is a FIFO, not a regular file" in err
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.fixture
def bounded() -> Iterator[None]:
    """Fail after BOUND seconds rather than hang, should a FIFO be opened after all."""

    def hung(*_: object) -> None:
        raise TimeoutError(f"still running after {BOUND} s: a FIFO was opened")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(BOUND)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("name", ["records.jsonl", "errors.jsonl", "items.csv", "summary.json"])
@pytest.mark.usefixtures("bounded")
def test_a_batch_whose_output_file_is_a_fifo_stops_before_any_work(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a hang (opening a FIFO waits for a reader), not a replaced FIFO: one line, exit 2."""
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / name)
    letter = require_letter("seeds/000_bcbad93b04dfc64b.txt")
    assert main(["batch", str(letter), "--out", str(out), "--backend", "rules", "--workers", "1", "-q"]) == 2
    assert f"{name} is a FIFO, not a regular file" in capsys.readouterr().err
    assert stat.S_ISFIFO((out / name).stat().st_mode)
    assert sorted(path.name for path in out.iterdir()) == sorted({".lock", name})


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("-5", "-5"),  # text that is just a number cannot be a formula
        ("+2.5", "+2.5"),
        ("MRI of the left knee", "MRI of the left knee"),
        (-5, -5),  # numbers stay numbers
        (None, None),
    ],
)
def test_formula_cells_are_neutralised_and_numbers_kept(cell: object, safe: object) -> None:
    assert spreadsheet_safe(cell) == safe


def test_items_csv_neutralises_a_hostile_request(records: Path) -> None:
    from extractor.schemas import Record

    record = Record.model_validate_json(records.read_text())
    hostile = record.determination.items[0].model_copy(update={"request": "=cmd|' /C calc'!A0"})
    record.determination.items[0] = hostile
    stream = io.StringIO()
    write_items_csv([record], stream)
    row = next(csv.DictReader(io.StringIO(stream.getvalue())))
    assert row["request"] == "'=cmd|' /C calc'!A0"
    assert row["age"] == str(record.determination.patient.age)
    assert row["item_index"] == "0"


def _cells(path: Path, column: str) -> set[str]:
    with open(path, newline="", encoding="utf-8") as stream:
        return {row[column] for row in csv.DictReader(stream)}


def test_every_csv_table_neutralises_formulas_as_items_csv_does(tmp_path: Path) -> None:
    """`export --to csv` wrote =, +, - and @ cells bare (only a batch's items.csv neutralised them)."""
    records = write_batch(tmp_path / "out", hostile()) / "records.jsonl"
    assert main(["export", str(records), "--csv", str(tmp_path / "items.csv")]) == 0
    assert main(["export", str(records), "--to", "csv", str(tmp_path / "tables")]) == 0
    formula, number = '\'=HYPERLINK("http://x","y")', "-5"
    tables = tmp_path / "tables"
    for path in (tmp_path / "items.csv", tables / "items.csv", tables / "items_wide.csv"):
        assert {formula, number} <= _cells(path, "request"), path
    diagnosis = "'+cmd|' /C calc'!A0"
    assert diagnosis in _cells(tmp_path / "items.csv", "diagnoses")
    assert diagnosis in _cells(tables / "diagnoses.csv", "diagnosis")
    assert diagnosis in _cells(tables / "items_wide.csv", "diagnoses")  # a list, joined
    assert "'@SUM(1+1)" in _cells(tables / "guidelines.csv", "sections")
    assert _cells(tables / "letters.csv", "age") == {"25", "45", "70", ""}  # numbers as they are


def _refused(capsys: pytest.CaptureFixture[str], says: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert says in err


def test_a_database_file_is_written_like_every_other_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--to duckdb replaced a symlink, a FIFO or a device with a database, and into a missing
    folder gave an IOException traceback: now a FIFO (a device's stand-in) or a folder is
    refused, a link written through, a missing folder one line; exit 2 each."""
    records = write_batch(tmp_path / "out") / "records.jsonl"
    fifo, folder, real, link = (tmp_path / name for name in ("fifo", "folder", "real.duckdb", "link"))
    os.mkfifo(fifo)
    folder.mkdir()
    link.symlink_to(real)
    assert main(["export", str(records), "--to", "duckdb", str(fifo)]) == 2
    _refused(capsys, "is a FIFO, not a regular file")
    assert main(["export", str(records), "--to", "duckdb", str(folder)]) == 2
    _refused(capsys, "is a folder, not a regular file")
    assert main(["export", str(records), "--to", "duckdb", str(tmp_path / "missing" / "x.duckdb")]) == 2
    _refused(capsys, f"no such folder: {tmp_path / 'missing'}")
    assert main(["export", str(records), "--to", "duckdb", str(link)]) == 0
    assert link.is_symlink()
    assert real.stat().st_size > 0
    capsys.readouterr()
    (folder / "items.csv").unlink(missing_ok=True)
    os.mkfifo(folder / "items.csv")
    assert main(["export", str(records), "--to", "csv", str(folder)]) == 2
    _refused(capsys, "items.csv is a FIFO, not a regular file")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert stat.S_ISFIFO((folder / "items.csv").stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "folder", "link", "out", "real.duckdb"]
    assert [p.name for p in folder.iterdir()] == ["items.csv"]  # no table written beside the FIFO


@pytest.mark.parametrize(
    "command",
    [
        ["export", "{records}", "--csv"],
        ["export", "{records}", "--to", "duckdb"],
        ["stats", "{batch}", "--html"],
    ],
)
@pytest.mark.usefixtures("bounded")
def test_every_analyst_writer_refuses_the_same_targets_in_one_line(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`stats --html` to a FIFO or a folder ended in an UnsafeTarget traceback, and `--csv` into a
    missing folder named the records as the missing file: each writer now says the same line."""
    batch = write_batch(tmp_path / "out")
    fifo, folder = tmp_path / "fifo", tmp_path / "folder"
    os.mkfifo(fifo)
    folder.mkdir()
    args = [part.format(records=batch / "records.jsonl", batch=batch) for part in command]
    for target, says in (
        (fifo, "is a FIFO, not a regular file"),
        (folder, "is a folder, not a regular file"),
        (tmp_path / "missing" / "file", f"no such folder: {tmp_path / 'missing'}; create it first"),
    ):
        assert main([*args, str(target)]) == 2
        _refused(capsys, says)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "folder", "out"]
