"""One source of truth: a correction saved through the review server changes ``stats``, the HTML
report and a DuckDB export of the same batch folder, with no extra command; ``--no-reviews``
shows the machine's values."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from extractor.cli import main
from extractor.review.batch import read_batch
from extractor.review.corrections import value_at
from support.review_server import fetch, serving, start, stop
from tests.review_batch import make_batch

FIELD = "determination.items[0].decision"


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The review tests' batch, with the first record's first decision flipped in the review page
    and its first flagged value corrected (as a reviewer saves them, over HTTP)."""
    records = make_batch(tmp_path_factory.mktemp("batch") / "out")
    first = read_batch(records)[0]
    flipped = "Overturned" if first.determination.items[0].decision.value == "Upheld" else "Upheld"
    flagged = next(check.field for check in first.checks if check.review)
    listed = value_at(first, flagged)
    assert isinstance(listed, list)
    assert listed
    with serving(records) as url:
        for field, new in ((FIELD, flipped), (flagged, listed[:-1])):
            body = json.dumps({"action": "edit", "field": field, "new": new}).encode()
            status, answer = fetch(url + "api/records/0/reviews", body, {"Content-Type": "application/json"})
            assert status == 200, answer
    return records.parent


def overturned(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("overturned:"))


def test_stats_count_the_correction_and_say_so(batch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(batch), "--no-reviews"]) == 0
    machine = capsys.readouterr()
    assert "--no-reviews: the corrections in reviews.jsonl are not applied" in machine.err
    assert main(["stats", str(batch)]) == 0
    reviewed = capsys.readouterr()
    assert "extractor stats: 2 corrections from reviews.jsonl applied (1 records reviewed)" in reviewed.err
    assert overturned(reviewed.out) != overturned(machine.out)
    assert main(["stats", str(batch / "records.jsonl"), "--json"]) == 0  # the records file: the same
    answer = json.loads(capsys.readouterr().out)
    assert f"{answer['overall']['overturned']}/{answer['overall']['items']}" in overturned(reviewed.out)


def test_the_report_shows_reviews_corrections_and_flags_changed(batch: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["stats", str(batch), "--html", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "Reviews (reviews.jsonl)" in text
    assert "Corrections by field" in text
    assert "<td>determination.items[].decision</td><td>1</td>" in text
    assert "flagged values changed" in text


def test_a_duckdb_export_of_the_folder_holds_the_correction(batch: Path, tmp_path: Path) -> None:
    decisions = {}
    for name, extra in (("reviewed", []), ("machine", ["--no-reviews"])):
        database = tmp_path / f"{name}.duckdb"
        assert main(["export", str(batch), "--to", "duckdb", str(database), *extra]) == 0
        with duckdb.connect(str(database), read_only=True) as con:
            decisions[name] = con.execute(
                "SELECT decision, needs_review FROM items_wide ORDER BY document_path, item_index LIMIT 1"
            ).fetchone()
    assert decisions["reviewed"] != decisions["machine"]
    assert decisions["reviewed"][1] is False  # a reviewed record no longer needs review


def test_items_csv_from_the_folder_is_reviewed_too(batch: Path, tmp_path: Path) -> None:
    reviewed, machine = tmp_path / "reviewed.csv", tmp_path / "machine.csv"
    assert main(["export", str(batch), "--csv", str(reviewed)]) == 0
    assert main(["export", str(batch), "--csv", str(machine), "--no-reviews"]) == 0
    assert machine.read_text() == (batch / "items.csv").read_text()
    assert reviewed.read_text() != machine.read_text()


def test_a_records_file_that_is_not_the_batch_s_takes_no_review(
    batch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``export --reviewed`` written beside the log is read as it is: no correction twice."""
    corrected = batch / "corrected.jsonl"
    assert main(["export", str(batch), "--reviewed", str(corrected)]) == 0
    capsys.readouterr()
    assert main(["stats", str(corrected)]) == 0
    out = capsys.readouterr()
    assert "reviews.jsonl" not in out.err
    assert main(["stats", str(batch)]) == 0
    assert overturned(out.out) == overturned(capsys.readouterr().out)
    corrected.unlink()


def test_the_review_page_says_it_shows_the_corrections(batch: Path) -> None:
    process, url = start(str(batch))
    assert url.startswith("http://127.0.0.1:")
    assert "2 corrections from reviews.jsonl applied" in stop(process)


@pytest.mark.parametrize("command", ["stats", "export"])
def test_a_review_log_that_cannot_be_read_is_one_line(
    command: str, batch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """...and --no-reviews, which does not read it, still gives the machine's values."""
    copy = tmp_path / "out"
    copy.mkdir()
    (copy / "records.jsonl").write_bytes((batch / "records.jsonl").read_bytes())
    (copy / "reviews.jsonl").write_text("not a review\n", encoding="utf-8")
    target = ["--to", "duckdb", str(tmp_path / "x.duckdb")] if command == "export" else []
    assert main([command, str(copy), *target]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "reviews.jsonl: line 1 is not a review" in err
    assert main([command, str(copy), *target, "--no-reviews"]) == 0


def test_reviews_that_no_longer_apply_are_counted_as_extracted_and_said(
    batch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "out"
    copy.mkdir()
    (copy / "records.jsonl").write_bytes((batch / "records.jsonl").read_bytes())
    lines = [json.loads(line) for line in (batch / "reviews.jsonl").read_text().splitlines()]
    lines[0]["field"] = "determination.items[99].decision"  # as if the letter had been re-extracted
    (copy / "reviews.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert main(["stats", str(copy)]) == 0
    reviewed = capsys.readouterr()
    assert "the reviews of 1 records no longer apply (re-extracted?): read as extracted" in reviewed.err
    assert main(["stats", str(copy), "--no-reviews"]) == 0
    assert overturned(reviewed.out) == overturned(capsys.readouterr().out)
