"""Corrections: appended to reviews.jsonl, applied in order, never rewriting records.jsonl;
``export --reviewed`` writes the corrected records and ``review --to-fixtures`` makes labels."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from extractor.cli import main
from extractor.fields import FieldPath
from extractor.review.batch import DocumentFinder, read_batch
from extractor.review.corrections import (
    CorrectionError,
    ReviewLog,
    parse_path,
    reviewed_values,
    reviews_beside,
)
from extractor.review.follow import locate
from extractor.review.labels import unvouched
from extractor.schemas import Check, Fixture, Record
from extractor.schemas.review import Review
from tests.documents import shared_root
from tests.review_batch import make_batch


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("batch"))


@pytest.fixture
def batch(made: Path, tmp_path: Path) -> Path:
    """A fresh copy of the batch's records.jsonl, with no reviews yet."""
    copy = tmp_path / "out" / "records.jsonl"
    copy.parent.mkdir()
    shutil.copy(made, copy)
    return copy


def first(batch: Path) -> Record:
    return read_batch(batch)[0]


def test_a_field_path_names_a_determination_field() -> None:
    assert parse_path("determination.items[12].category") == FieldPath.of("items", 12, "category")
    for bad in (
        "evidence.x",
        "determination",
        "determination.items[x]",
        "determination..case",
        ".determination.case",
    ):
        with pytest.raises(CorrectionError):
            parse_path(bad)


def test_an_edit_is_one_appended_line_and_the_records_stay_as_they_were(batch: Path) -> None:
    before = batch.read_bytes()
    log = reviews_beside(batch)
    record = first(batch)
    old = record.determination.items[0].category.value
    review = log.save(record, "edit", "ana", "determination.items[0].category", "surgery")
    assert (review.old, review.new, review.who, review.action) == (old, "surgery", "ana", "edit")
    log.save(record, "accept", "ana")
    lines = (batch.parent / "reviews.jsonl").read_text(encoding="utf-8").splitlines()
    assert [Review.model_validate_json(line).action for line in lines] == ["edit", "accept"]
    assert batch.read_bytes() == before
    corrected = ReviewLog(log.path).corrected(record)  # read back from the file
    assert corrected.determination.items[0].category.value == "surgery"
    assert corrected.needs_review is False
    assert corrected.evidence == record.evidence


def test_an_edit_that_breaks_the_record_is_refused_and_not_written(batch: Path) -> None:
    log = reviews_beside(batch)
    record = first(batch)
    with pytest.raises(CorrectionError, match=r"determination\.items\[0\]\.category: Input should be"):
        log.save(record, "edit", "ana", "determination.items[0].category", "massage")
    with pytest.raises(CorrectionError, match="no field"):
        log.save(record, "edit", "ana", "determination.items[40].category", "surgery")
    with pytest.raises(CorrectionError, match=r"determination\.case\.date_assigned"):
        log.save(record, "edit", "ana", "determination.case.date_assigned", "yesterday")
    assert not log.path.exists()


def test_items_are_added_and_removed(batch: Path) -> None:
    log = reviews_beside(batch)
    record = first(batch)
    count = len(record.determination.items)
    log.save(
        record,
        "add_item",
        "ana",
        f"determination.items[{count}]",
        {"request": "A cane", "decision": "Upheld"},
    )
    log.save(record, "remove_item", "ana", "determination.items[0]")
    corrected = log.corrected(record)
    items = corrected.determination.items
    assert len(items) == count
    assert (items[-1].request, items[-1].category.value) == ("A cane", "other")
    assert items[0] == record.determination.items[1]
    moved = {key.replace("items[1]", "items[0]", 1): spans for key, spans in record.evidence.items()
             if key.startswith("determination.items[1]")}  # fmt: skip
    assert {key: corrected.evidence[key] for key in moved} == moved
    assert not any(key.startswith(f"determination.items[{count - 1}]") for key in corrected.evidence)
    with pytest.raises(CorrectionError):
        log.save(record, "add_item", "ana", "determination.case", {"request": "x", "decision": "Upheld"})


def test_a_torn_last_review_line_is_ignored(batch: Path) -> None:
    log = reviews_beside(batch)
    log.save(first(batch), "edit", "ana", "determination.patient.age", 61)
    log.close()
    with log.path.open("a", encoding="utf-8") as stream:
        stream.write('{"document": {"id"')
    assert ReviewLog(log.path).corrected(first(batch)).determination.patient.age == 61


def test_export_reviewed_writes_every_record_with_its_corrections(
    batch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = reviews_beside(batch)
    log.save(first(batch), "edit", "ana", "determination.items[0].decision", "Overturned")
    log.close()
    assert main(["export", str(batch), "--reviewed"]) == 0
    records = [Record.model_validate_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.document.path for r in records] == [r.document.path for r in read_batch(batch)]
    assert records[0].determination.items[0].decision.value == "Overturned"
    assert records[1] == read_batch(batch)[1]
    out = batch.parent / "reviewed.jsonl"
    assert main(["export", str(batch), "--reviewed", str(out)]) == 0
    assert "3 records, 1 reviewed" in capsys.readouterr().err
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


def test_reviewed_records_become_fixtures_and_hand_labels_are_kept(
    batch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = reviews_beside(batch)
    records = read_batch(batch)
    log.save(records[0], "edit", "ana", "determination.patient.mechanism_of_injury", "a fall")
    log.save(records[2], "accept", "bo")
    log.close()
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / f"{records[2].document.id}.json").write_text("{}", encoding="utf-8")
    code = main(
        ["review", str(batch.parent), "--documents", str(shared_root()), "--to-fixtures", str(fixtures)]
    )
    assert code == 0
    assert "1 reviewed records" in capsys.readouterr().err
    text = (fixtures / f"{records[0].document.id}.json").read_text(encoding="utf-8")
    label = Fixture.model_validate_json(text)
    assert label.document.path == "letters/CM16-0213037.pdf"
    assert label.determination.patient.mechanism_of_injury == "a fall"
    raw = json.loads(text)["determination"]
    # the rules pass read the diagnoses of this letter: they are labelled as it read them
    assert raw["patient"]["diagnoses"] == records[0].determination.patient.diagnoses != []
    assert all("rationale" not in item for item in raw["items"])  # never labelled
    assert label.notes is not None
    assert "ana" in label.notes
    assert (fixtures / f"{records[2].document.id}.json").read_text(encoding="utf-8") == "{}"


def test_a_label_leaves_out_what_the_record_holds_no_reading_of(batch: Path) -> None:
    """What the backend never reads, and what a check says was not read and left empty."""
    record = first(batch)
    assert record.provenance.backend == "rules"
    assert unvouched(record) == []  # the rules read every field of this letter
    patient = record.determination.patient.model_copy(
        update={"diagnoses": [], "mechanism_of_injury": "a fall"}
    )
    unread = [
        Check(field=str(FieldPath.of("patient", name)), status="rules_only", review=True, note="not read: x")
        for name in ("diagnoses", "mechanism_of_injury")
    ]
    record = record.model_copy(
        update={
            "determination": record.determination.model_copy(update={"patient": patient}),
            "checks": [*record.checks, *unread],
        }
    )
    assert unvouched(record) == [FieldPath.of("patient", "diagnoses")]  # the mechanism has a value
    llm = record.model_copy(update={"provenance": record.provenance.model_copy(update={"backend": "llm"})})
    items = range(len(record.determination.items))
    assert {where.name for where in unvouched(llm)} == {
        "patient.diagnoses", "items[].depends_on", "items[].date_of_service"
    }  # fmt: skip
    assert len(unvouched(llm)) == 1 + 2 * len(items)


def test_documents_are_found_beside_the_records_or_under_documents(tmp_path: Path) -> None:
    letter = tmp_path / "letters" / "x.pdf"
    letter.parent.mkdir()
    letter.write_bytes(b"%PDF-")
    assert DocumentFinder(tmp_path).find("letters/x.pdf") == letter
    assert DocumentFinder(tmp_path / "out", tmp_path).find("/elsewhere/letters/x.pdf") == letter
    assert DocumentFinder(tmp_path / "out", tmp_path).relative(letter) == "letters/x.pdf"
    assert DocumentFinder(tmp_path).find("nowhere.pdf") is None


def test_a_letter_is_found_by_its_sha256_not_its_name(tmp_path: Path) -> None:
    """A file at the recorded name with other bytes is passed over for the one with the bytes."""
    (tmp_path / "out").mkdir()
    for folder in ("letters", "scans", "docs"):
        (tmp_path / folder).mkdir()
    decoy, letter = tmp_path / "letters" / "x.pdf", tmp_path / "scans" / "renamed.pdf"
    decoy.write_bytes(b"%PDF- another letter")
    letter.write_bytes(b"%PDF- this letter")
    sha256 = hashlib.sha256(letter.read_bytes()).hexdigest()
    beside = DocumentFinder(tmp_path / "out")
    assert beside.find("/elsewhere/letters/x.pdf") == decoy  # no sha256 given: the name
    assert beside.find("/elsewhere/letters/x.pdf", sha256) == letter
    deep = tmp_path / "docs" / "a" / "b" / "deep.pdf"
    deep.parent.mkdir(parents=True)
    shutil.move(letter, deep)
    assert DocumentFinder(tmp_path / "out", tmp_path / "docs").find("x.pdf", sha256) == deep
    assert beside.find("/elsewhere/letters/x.pdf", sha256) == decoy  # not there: the name, shown as changed
    assert beside.find("/elsewhere/y.pdf", sha256) is None


def test_an_undo_cancels_the_latest_review_in_effect(batch: Path) -> None:
    log = reviews_beside(batch)
    record = first(batch)
    category = "determination.items[0].category"
    log.save(record, "edit", "ana", category, "surgery")
    log.save(record, "accept", "ana", "determination.patient.age")
    undo = log.save(record, "undo", "ana")
    assert undo.old["action"] == "accept"
    assert [review.action for review in log.reviews(record)] == ["edit"]
    log.save(record, "undo", "ana")
    assert log.reviews(record) == []
    assert log.corrected(record) == record
    with pytest.raises(CorrectionError, match="nothing to undo"):
        log.save(record, "undo", "ana")
    assert [Review.model_validate_json(line).action for line in log.path.read_text().splitlines()] == [
        "edit", "accept", "undo", "undo"
    ]  # fmt: skip
    assert log.lines(record) == 4


def test_settled_values_follow_their_items(batch: Path) -> None:
    """An accepted or edited value keeps its mark as items are added and removed before it."""
    log = reviews_beside(batch)
    record = next(r for r in read_batch(batch) if len(r.determination.items) > 2)
    log.save(record, "accept", "ana", "determination.items[1].decision")
    log.save(record, "edit", "ana", "determination.items[2].category", "surgery")
    log.save(record, "remove_item", "ana", "determination.items[0]")
    log.save(record, "edit", "ana", "determination.items[0].decision", "Overturned")
    assert reviewed_values(log.reviews(record)) == {
        "determination.items[0].decision": "edit",
        "determination.items[1].category": "edit",
    }
    last = f"determination.items[{len(record.determination.items) - 1}]."
    assert set(log.corrected(record).confidence) == {k for k in record.confidence if not k.startswith(last)}


def test_an_edited_value_is_found_near_its_old_evidence() -> None:
    text = "On 12/15/2016 the knee. Later, on December 15, 2016, the\nknee again."
    later, date = text.index("the\nknee"), text.index("December")
    assert locate(text, "the KNEE", 40) == [(later, later + 8)]
    assert locate(text, "2016-12-15", 0) == [(3, 13)]
    assert locate(text, "2016-12-15", 60) == [(date, date + len("December 15, 2016"))]
    assert locate(text, ["knee", "elbow"], 0) == [(18, 22)]
    assert locate(text, {"not": "text"}, 0) == []


def test_review_names_a_missing_batch_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"extractor review: no records.jsonl in {tmp_path}\n"
