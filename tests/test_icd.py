"""ICD-10-CM coding of diagnoses (extractor.icd), its scoring, and its export table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from evals.fixtures import FIXTURES_DIR
from evals.scoring import CATEGORY, CODES, overall, score_determination
from extractor import icd
from extractor.analytics import tables
from extractor.analytics.stats import report
from extractor.llm.drafts import PatientDraft
from extractor.schemas import Determination, Fixture, Patient
from tests.analytics_records import RECORDS, write_batch


@pytest.fixture
def floor(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Codings made under a patched floor are not kept for the other tests."""
    icd.code_diagnosis.cache_clear()
    yield
    monkeypatch.undo()
    icd.code_diagnosis.cache_clear()


def test_a_diagnosis_written_as_a_title_is_that_code() -> None:
    code, how = icd.code_diagnosis("Low back pain")
    assert (code, how.method, how.score) == ("M54.5", "title", 100.0)


def test_a_diagnosis_written_as_an_inclusion_term_is_its_code() -> None:
    code, how = icd.code_diagnosis("anxiety")  # "Anxiety NOS" under F41.9
    assert (code, how.method, how.matched) == ("F41.9", "inclusion", "Anxiety NOS")


def test_a_fuzzy_match_names_its_score_and_keeps_the_side_written() -> None:
    code, how = icd.code_diagnosis("right shoulder contusion")
    assert (code, how.method, how.matched) == ("S40.011", "fuzzy", "Contusion of right shoulder")
    assert how.score >= icd.SCORE_FLOOR
    assert icd.code_diagnosis("shoulder contusion").code == "S40.01"  # no side invented


def test_no_fuzzy_match_below_the_floor(floor: None, monkeypatch: pytest.MonkeyPatch) -> None:
    ankle = "strain of the calcaneofibular ligament of the right ankle"  # a sprain, worded as a strain
    code, how = icd.code_diagnosis(ankle)
    assert (code, how.method) == ("S93.411", "fuzzy")
    monkeypatch.setattr(icd, "SCORE_FLOOR", how.score + 0.5)
    icd.code_diagnosis.cache_clear()
    assert icd.code_diagnosis(ankle) == icd.NOT_CODED
    assert icd.code_diagnosis("Low back pain").code == "M54.5"  # an exact title needs no score


@pytest.mark.parametrize(
    "diagnosis",
    [
        "possible lumbar radiculopathy",
        "a history of deep vein thrombosis",
        "neck and shoulder strain",
        "xyzzy",
    ],
)
def test_null_when_nothing_honestly_fits(diagnosis: str) -> None:
    assert icd.code_diagnosis(diagnosis).code is None


@pytest.mark.parametrize(
    ("diagnosis", "code"),
    [
        ("lumbar strain", "S39.012"),  # [places] "lumbar" = "lower back"
        ("cervical degenerative disc disease", "M50.3"),  # [terms] "degenerative disc disease"
        ("failed back surgery syndrome", "M96.1"),  # [terms] "failed back surgery syndrome"
    ],
)
def test_the_letters_words_are_rewritten_to_the_code_sets(diagnosis: str, code: str) -> None:
    assert icd.code_diagnosis(diagnosis).code == code


@pytest.mark.parametrize(
    ("diagnosis", "code"),
    [
        ("right shoulder contusion", "S40.011"),  # no encounter stated: no 7th character
        ("lumbar strain, subsequent encounter", "S39.012D"),
        ("neck strain, initial encounter", "S16.1XXA"),  # placeholders up to the 7th character
        ("contusion of the left knee sequela", "S80.02XS"),
        ("lumbar radiculopathy, initial encounter", "M54.16"),  # not an injury code: none taken
    ],
)
def test_the_encounter_character_only_where_the_diagnosis_states_it(diagnosis: str, code: str) -> None:
    assert icd.code_diagnosis(diagnosis).code == code


def _fixtures() -> list[Fixture]:
    return [
        Fixture.model_validate_json(path.read_text(encoding="utf-8")) for path in FIXTURES_DIR.glob("*.json")
    ]


def test_every_code_emitted_and_labelled_is_in_the_code_set() -> None:
    patients = [fixture.determination.patient for fixture in _fixtures()]
    diagnoses = [diagnosis for patient in patients for diagnosis in patient.diagnoses]
    emitted = [icd.code_diagnosis(diagnosis).code for diagnosis in diagnoses]
    labelled = [code for patient in patients for code in patient.diagnosis_codes]
    assert len(diagnoses) > 100
    assert all(icd.is_valid(code) for code in [*emitted, *labelled] if code is not None)
    assert all(
        len(p.diagnosis_codes) == len(p.diagnoses)
        for p in patients
        if "diagnosis_codes" in p.model_fields_set
    )


def test_the_llm_pass_codes_its_diagnoses_without_asking_the_model() -> None:
    assert "diagnosis_codes" not in str(PatientDraft.model_json_schema())
    patient = PatientDraft(diagnoses=["low back pain", "neck strain"]).to_patient()
    assert patient.diagnosis_codes == ["M54.5", "S16.1"]
    assert [how.method for how in patient.diagnosis_coding] == ["title", "fuzzy"]


def test_codes_are_scored_through_their_diagnoses_and_categories_apart() -> None:
    label = Determination(
        patient=Patient(diagnoses=["a", "b", "c"], diagnosis_codes=["S40.011", "M54.5", None])
    )
    got = Patient(diagnoses=["b", "a", "c"], diagnosis_codes=["M54.5", "S40.019", None])
    fields, misses, _ = score_determination(label, Determination(patient=got))
    assert (fields[CODES].right, fields[CODES].total) == (2, 3)
    assert (fields[CATEGORY].right, fields[CATEGORY].total) == (3, 3)
    assert overall(fields).total == fields["patient.diagnoses"].total  # the codes are reported apart
    assert [miss.expected for miss in misses if miss.field == CODES] == [["S40.011"]]


@pytest.fixture
def coded_batch(tmp_path: Path) -> Path:
    records = [
        r.model_copy(
            update={
                "determination": r.determination.model_copy(
                    update={"patient": icd.coded(r.determination.patient)}
                )
            }
        )
        for r in RECORDS
    ]
    return write_batch(tmp_path, records)


def test_the_diagnoses_table_has_code_category_chapter_and_title(coded_batch: Path) -> None:
    with duckdb.connect() as con:
        tables.load(con, coded_batch / "records.jsonl")
        rows = con.execute(
            "SELECT diagnosis, code, category, chapter, title FROM diagnoses ORDER BY 1"
        ).fetchall()
    assert rows == [
        ("depression", "F32.A", "F32", "Mental, Behavioral and Neurodevelopmental disorders (F01-F99)",
         "Depression, unspecified"),
        ("lumbar strain", "S39.012", "S39",
         "Injury, poisoning and certain other consequences of external causes (S00-T88)",
         "Strain of muscle, fascia and tendon of lower back"),
        ("neck pain", "M54.2", "M54",
         "Diseases of the musculoskeletal system and connective tissue (M00-M99)", "Cervicalgia"),
    ]  # fmt: skip


def test_stats_by_icd_chapter_and_category(coded_batch: Path) -> None:
    by_category = report(coded_batch, by=["icd_category"]).by
    assert by_category is not None
    assert {rate.group: rate.n for rate in by_category.rates} == {"S39": 3, "M54": 3, "F32": 3}
    by_chapter = report(coded_batch, by=["icd_chapter"]).by
    assert by_chapter is not None
    assert len(by_chapter.rates) == 3
