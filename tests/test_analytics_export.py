"""extractor export --to duckdb|parquet|csv: every item and citation of every record is in the
tables, read back with DuckDB itself, with pyarrow and with the csv module; and items.csv's columns."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from extractor import extract
from extractor.analytics import tables
from extractor.cli import main
from extractor.export import ITEM_COLUMNS, write_items_csv
from extractor.schemas import DrugClass, Item, Record
from tests.analytics_records import RECORDS, write_batch
from tests.documents import require_letter

LETTERS = ["CM16-0213037.pdf", "CM16-0219557.pdf", "CM16-0230548.pdf"]
TABLES = ("letters", "items", "guidelines", "diagnoses", "checks", "body_regions", "patient_body_regions")


@pytest.fixture(scope="module")
def records() -> list[Record]:
    """Three real letters through the rules pass, and the hand-built batch (diagnoses, checks)."""
    return [*(extract(require_letter(f"letters/{name}")) for name in LETTERS), *RECORDS]


@pytest.fixture(scope="module")
def records_file(records: list[Record], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_batch(tmp_path_factory.mktemp("batch"), records) / "records.jsonl"


def expected(records: list[Record]) -> dict[str, set[tuple[object, ...]]]:
    """Each table's rows as the records say them, keyed by document id (keys are the tables' own)."""
    rows: dict[str, set[tuple[object, ...]]] = {name: set() for name in TABLES}
    for record in records:
        doc, patient = record.document.id, record.determination.patient
        case_number, backend = record.determination.case.case_number, record.provenance.backend
        rows["letters"].add(
            (
                doc,
                case_number,
                patient.age,
                patient.sex,
                patient.mechanism_of_injury,
                record.needs_review,
                backend,
            )
        )
        rows["diagnoses"] |= {(doc, i, d) for i, d in enumerate(patient.diagnoses)}
        rows["patient_body_regions"] |= {
            (doc, i, r.region.value, r.side) for i, r in enumerate(patient.body_regions)
        }
        rows["checks"] |= {(doc, i, c.field, c.status, c.review) for i, c in enumerate(record.checks)}
        for index, item in enumerate(record.determination.items):
            rows["body_regions"] |= {
                (doc, index, i, r.region.value, r.side) for i, r in enumerate(item.body_regions)
            }
            rows["items"].add(
                (
                    doc,
                    index,
                    item.request,
                    item.original_request,
                    item.decision.value,
                    item.category.value,
                    item.rationale,
                )
            )
            for side, cited in (
                ("claims_administrator", item.claims_administrator_guidelines),
                ("reviewer", item.reviewer_guidelines),
            ):
                rows["guidelines"] |= {
                    (
                        doc,
                        index,
                        side,
                        p,
                        g.source.value if g.source else None,
                        g.title,
                        g.chapter,
                        tuple(g.sections),
                        tuple(g.pages),
                    )
                    for p, g in enumerate(cited)
                }
    return rows


QUERIES = {
    "letters": "SELECT document_id, case_number, age, sex, mechanism_of_injury, needs_review, backend "
    "FROM letters",
    "diagnoses": "SELECT document_id, position, diagnosis FROM diagnoses JOIN letters USING (letter_key)",
    "checks": "SELECT document_id, position, field, status, review "
    "FROM checks JOIN letters USING (letter_key)",
    "patient_body_regions": "SELECT document_id, position, region, side "
    "FROM patient_body_regions JOIN letters USING (letter_key)",
    "body_regions": "SELECT document_id, item_index, position, region, side "
    "FROM body_regions JOIN items_wide USING (item_key)",
    "items": "SELECT document_id, item_index, request, original_request, decision, category, rationale "
    "FROM items_wide",
    "guidelines": "SELECT document_id, item_index, side, position, source, title, chapter, sections, pages "
    "FROM guidelines JOIN items_wide USING (item_key)",
}


def _hashable(row: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)


def test_the_duckdb_file_holds_every_item_and_citation(
    records: list[Record], records_file: Path, tmp_path: Path
) -> None:
    database = tmp_path / "imr.duckdb"
    assert main(["export", str(records_file), "--to", "duckdb", str(database)]) == 0
    with duckdb.connect(str(database), read_only=True) as con:
        for name, rows in expected(records).items():
            found = [_hashable(row) for row in con.execute(QUERIES[name]).fetchall()]
            assert len(found) == len(set(found)) == len(rows), name
            assert set(found) == rows, name
        (overturned,) = con.execute(
            "SELECT count(*) FROM items WHERE decision = 'Overturned'"
        ).fetchone() or (0,)
        assert overturned == sum(i.decision == "Overturned" for r in records for i in r.determination.items)
        assert [row[0] for row in con.execute("DESCRIBE items_wide").fetchall()][:2] == [
            "letter_key",
            "document_id",
        ]


def test_parquet_and_csv_have_the_same_rows_as_the_database(records_file: Path, tmp_path: Path) -> None:
    assert main(["export", str(records_file), "--to", "duckdb", str(tmp_path / "imr.duckdb")]) == 0
    assert main(["export", str(records_file), "--to", "parquet", str(tmp_path / "parquet")]) == 0
    assert main(["export", str(records_file), "--to", "csv", str(tmp_path / "csv")]) == 0
    with duckdb.connect(str(tmp_path / "imr.duckdb"), read_only=True) as con:
        for name in (*TABLES, tables.WIDE):
            columns = [row[0] for row in con.execute(f"DESCRIBE {name}").fetchall()]
            count = (con.execute(f"SELECT count(*) FROM {name}").fetchone() or (0,))[0]
            parquet = pq.read_table(tmp_path / "parquet" / f"{name}.parquet")
            assert (parquet.column_names, parquet.num_rows) == (columns, count), name
            with open(tmp_path / "csv" / f"{name}.csv", newline="", encoding="utf-8") as stream:
                reader = csv.reader(stream)
                assert next(reader) == columns
                assert sum(1 for _ in reader) == count, name
    with open(tmp_path / "csv" / "guidelines.csv", newline="", encoding="utf-8") as stream:
        pages = {row["pages"] for row in csv.DictReader(stream)}
    assert "76; 77" in pages  # lists joined as in items.csv


def test_bad_input_and_targets_are_one_line_each(
    records_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    errors = records_file.parent / "errors.jsonl"
    assert main(["export", str(errors), "--to", "duckdb", str(tmp_path / "x.duckdb")]) == 2
    assert "is an errors file" in capsys.readouterr().err
    (tmp_path / "junk.jsonl").write_text("not json\n")
    assert main(["export", str(tmp_path / "junk.jsonl"), "--to", "csv", str(tmp_path / "junk")]) == 2
    assert "not a records.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "junk").exists()
    assert not (tmp_path / "x.duckdb").exists()
    assert main(["export", str(records_file), "--to", "parquet", str(records_file.parent)]) == 2
    assert "a batch's folder" in capsys.readouterr().err
    assert main(["export", str(records_file), "--to", "xlsx", str(tmp_path / "x")]) == 64
    assert main(["export", str(tmp_path / "none.jsonl"), "--to", "duckdb", str(tmp_path / "x.duckdb")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_items_csv_keeps_its_columns_and_adds_the_missing_ones_at_the_end() -> None:
    assert ITEM_COLUMNS[:3] == ("document_id", "path", "case_number")
    assert ITEM_COLUMNS[22:25] == ("reviewer_pages", "needs_review", "backend")  # the first 25, as before
    added = (
        "mechanism_of_injury", "claims_administrator_titles", "claims_administrator_sections",
        "claims_administrator_pages", "reviewer_titles", "reviewer_sections", "rationale",
    )  # fmt: skip
    assert tuple(column for column in ITEM_COLUMNS[25:] if column in added) == added
    stream = io.StringIO()
    write_items_csv(RECORDS[:1], stream)
    row = next(csv.DictReader(io.StringIO(stream.getvalue())))
    assert row["mechanism_of_injury"] == "lifting a box"
    assert row["reviewer_titles"] == "Chronic Pain; Low Back"
    assert row["reviewer_sections"] == "Opioids; MRIs"
    assert row["reviewer_chapters"] == row["claims_administrator_chapters"]
    assert row["reviewer_chapters"] == "Chronic Pain Medical Treatment Guidelines"  # LOW_BACK has none
    assert row["claims_administrator_pages"] == row["reviewer_pages"] == "76; 77"
    assert row["rationale"] == "A rationale written for the test."


def test_item_columns_are_the_schema_fields() -> None:
    """Named from the models: a field added to an item becomes a column with no change here."""
    names = [name for _, name in tables.flat_columns(Item, "item")]
    assert names == [name for name in Item.model_fields if name not in tables.item_lists()]
    assert {"claims_administrator_guidelines", "reviewer_guidelines"} <= set(tables.item_lists())


def test_a_records_path_with_glob_characters_is_the_file_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``out[1]/records.jsonl`` exported ``out1/records.jsonl``, another batch, with exit 0."""
    write_batch(tmp_path / "out1", RECORDS[:1])
    records = write_batch(tmp_path / "out[1]") / "records.jsonl"
    assert main(["export", str(records), "--to", "duckdb", str(tmp_path / "imr.duckdb")]) == 0
    assert "4 letters, 10 items" in capsys.readouterr().err
    with duckdb.connect(str(tmp_path / "imr.duckdb"), read_only=True) as con:
        assert con.execute("SELECT list(document_id ORDER BY 1) FROM letters").fetchall() == [
            (["A", "B", "C", "D"],)
        ]


def test_a_medications_drugs_and_class_are_columns_of_items_csv_and_the_items_table(tmp_path: Path) -> None:
    record = RECORDS[0].model_copy(deep=True)
    record.determination.items[2].drugs = ["hydrocodone", "acetaminophen"]
    record.determination.items[2].drug_class = DrugClass.OPIOID
    stream = io.StringIO()
    write_items_csv([record], stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert [(row["drugs"], row["drug_class"]) for row in rows] == [
        ("", ""),
        ("", ""),
        ("hydrocodone; acetaminophen", "opioid"),
    ]
    records_file = tmp_path / "records.jsonl"
    records_file.write_text(record.model_dump_json() + "\n", encoding="utf-8")
    con = duckdb.connect()
    tables.load(con, records_file)
    assert con.execute("SELECT drugs, drug_class FROM items ORDER BY item_index").fetchall()[2] == (
        ["hydrocodone", "acetaminophen"],
        "opioid",
    )
