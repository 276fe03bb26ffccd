"""The scorer on hand-made cases whose right score is known."""

from __future__ import annotations

from typing import Any

import pytest

from evals.scoring import (
    FieldCount,
    LetterScore,
    aggregate,
    category_pairs,
    overall,
    score_determination,
    score_fixture,
)
from extractor.fields import fuzzy_equal, guideline_difference, same_name_set
from extractor.schemas import Determination, Fixture, Guideline


def label(data: dict[str, Any]) -> Determination:
    """A label as the fixtures load it: keys left out are unset (unlabelled)."""
    return Fixture.model_validate(
        {"document": {"id": "x", "path": "synthetic/x.txt"}, "determination": data}
    ).determination


def predicted(data: dict[str, Any]) -> Determination:
    return Determination.model_validate(data)


def item(request: str, decision: str = "Upheld", **more: Any) -> dict[str, Any]:
    return {"request": request, "decision": decision, "category": "medication", **more}


def counts(fields: dict[str, FieldCount], name: str) -> tuple[int, int, int | None]:
    count = fields[name]
    return count.right, count.total, count.predicted


ITEMS = [
    "Norco 10/325mg #60",
    "MRI of the lumbar spine",
    "Physical therapy x 12 sessions",
    "Lidoderm patches",
]


def test_one_missed_item_in_the_middle_does_not_shift_later_items() -> None:
    truth = label({"items": [item(r, "Upheld" if i % 2 else "Overturned") for i, r in enumerate(ITEMS)]})
    guess = predicted(
        {"items": [item(r, "Upheld" if i % 2 else "Overturned") for i, r in enumerate(ITEMS) if i != 1]}
    )
    fields, misses, _ = score_determination(truth, guess)
    assert counts(fields, "items") == (3, 4, 3)
    assert counts(fields, "items[].decision") == (3, 4, 3)  # items 2 and 3 still right
    assert counts(fields, "items[].request") == (3, 4, 3)
    assert fields["items[].decision"].recall == 0.75
    assert fields["items[].decision"].precision == 1.0
    assert [(m.kind, m.where, m.expected) for m in misses] == [("missed", "items[1]", ITEMS[1])]


def test_an_invented_item_lowers_precision_not_recall() -> None:
    truth = label({"items": [item(ITEMS[0]), item(ITEMS[2])]})
    guess = predicted({"items": [item(ITEMS[0]), item("Gym membership for 6 months"), item(ITEMS[2])]})
    fields, misses, _ = score_determination(truth, guess)
    assert counts(fields, "items") == (2, 2, 3)
    assert counts(fields, "items[].category") == (2, 2, 3)
    assert fields["items"].recall == 1.0
    assert fields["items"].precision == pytest.approx(2 / 3)
    assert fields["items[].decision"].accuracy == 1.0
    assert [(m.kind, m.where, m.got) for m in misses] == [
        ("invented", "predicted items[1]", "Gym membership for 6 months")
    ]


def test_matched_item_with_a_wrong_field_and_a_near_request() -> None:
    truth = label({"items": [item("MRI of the lumbar spine without contrast", "Upheld")]})
    guess = predicted({"items": [item("MRI of the lumbar spine w/o contrast", "Overturned")]})
    fields, misses, _ = score_determination(truth, guess)
    assert counts(fields, "items[].request") == (1, 1, 1)  # fuzzy >= 0.9
    assert counts(fields, "items[].decision") == (0, 1, 1)
    assert [(m.where, m.expected, m.got) for m in misses] == [("items[0].decision", "Upheld", "Overturned")]


def test_unlabelled_keys_are_not_scored_and_null_is_a_label() -> None:
    truth = label(
        {
            "case": {"case_number": "CM16-0000001", "date_of_injury": None},
            "patient": {"age": None, "sex": "female"},
            "items": [{"request": "Norco", "decision": "Upheld"}],  # category etc. unlabelled
        }
    )
    guess = predicted(
        {
            "case": {"case_number": "CM16-0000001", "date_of_injury": "2015-01-02", "priority": "Standard"},
            "reviewer": {"licensure_states": ["CA"]},
            "patient": {"age": 40, "sex": "female", "diagnoses": ["back pain"]},
            "items": [{"request": "Norco", "decision": "Upheld", "category": "medication", "rationale": "x"}],
        }
    )
    fields, misses, _ = score_determination(truth, guess)
    assert set(fields) == {
        "case.case_number",
        "case.date_of_injury",
        "patient.age",
        "patient.sex",
        "items",
        "items[].request",
        "items[].decision",
    }
    assert counts(fields, "case.date_of_injury")[:2] == (0, 1)  # null label, a date predicted
    assert counts(fields, "patient.age")[:2] == (0, 1)
    assert {m.where for m in misses} == {"case.date_of_injury", "patient.age"}
    assert overall(fields).right == 5
    assert overall(fields).total == 7


def test_dates_are_exact() -> None:
    truth = label({"case": {"decision_date": "2016-12-09", "date_assigned": "2016-11-09"}})
    guess = predicted({"case": {"decision_date": "2016-12-08", "date_assigned": "2016-11-09"}})
    fields, misses, _ = score_determination(truth, guess)
    assert counts(fields, "case.decision_date")[:2] == (0, 1)
    assert counts(fields, "case.date_assigned")[:2] == (1, 1)
    assert [(m.expected, m.got) for m in misses] == [("2016-12-09", "2016-12-08")]


def test_reviewer_comparators() -> None:
    truth = label(
        {
            "reviewer": {
                "licensure_states": ["CA", "NC"],
                "specialties": ["Physical Medicine & Rehabilitation", "Pain  Medicine"],
                "subspecialties": [],
            }
        }
    )
    guess = predicted(
        {
            "reviewer": {
                "licensure_states": ["NC", "CA"],
                "specialties": ["pain medicine", "Physical Medicine and Rehabilitation"],
                "subspecialties": [],
            }
        }
    )
    fields, _, _ = score_determination(truth, guess)
    assert counts(fields, "reviewer.licensure_states")[:2] == (0, 1)  # order matters
    assert counts(fields, "reviewer.specialties")[:2] == (1, 1)
    assert counts(fields, "reviewer.subspecialties")[:2] == (1, 1)
    assert same_name_set(["A & B"], ["a and  b"])
    assert not same_name_set(["A"], ["A", "B"])


def test_diagnoses_recall_and_precision() -> None:
    truth = label(
        {"patient": {"diagnoses": ["right shoulder contusion", "neck strain", "scapulothoracic syndrome"]}}
    )
    guess = predicted(
        {"patient": {"diagnoses": ["Right shoulder contusion.", "scapulothoracic syndrome", "anxiety"]}}
    )
    fields, misses, _ = score_determination(truth, guess)
    count = fields["patient.diagnoses"]
    assert (count.right, count.total, count.predicted) == (2, 3, 3)
    assert count.recall == pytest.approx(2 / 3)
    assert count.precision == pytest.approx(2 / 3)
    assert [(m.field, m.expected, m.got) for m in misses] == [
        ("patient.diagnoses", ["neck strain"], ["anxiety"])
    ]


def test_mechanism_is_fuzzy() -> None:
    assert fuzzy_equal("fall out of a truck", "Fall out of a truck.")
    assert not fuzzy_equal("fall out of a truck", "lifting a heavy box")
    assert not fuzzy_equal(None, "lifting")
    assert fuzzy_equal(None, None)


MTUS_CP = {
    "source": "MTUS",
    "title": "Chronic Pain Medical Treatment 2016",
    "sections": ["Opioids", "NSAIDs"],
    "pages": [78, 79],
}


def guideline(**changes: Any) -> Guideline:
    return Guideline.model_validate({**MTUS_CP, **changes})


def test_guidelines() -> None:
    same = [guideline(sections=["NSAIDs", "Opioids"], title="Chronic pain medical treatment 2016.")]
    assert guideline_difference([guideline()], same) is None  # sections as a set, title fuzzy
    assert guideline_difference([guideline()], [guideline(pages=[78])]) == "pages differ"
    assert guideline_difference([guideline()], [guideline(source="ODG")]) == "sources differ"
    assert (
        guideline_difference([guideline()], [guideline(title="Low Back Complaints 2004")]) == "titles differ"
    )
    assert guideline_difference([guideline()], [guideline(sections=["Opioids"])]) == "sections differ"
    assert guideline_difference([guideline()], []) == "0 citations, label has 1"
    order = [guideline(), guideline(source="ODG", title="ODG Pain", pages=[])]
    assert guideline_difference(order, list(reversed(order))) == "sources differ"  # lists are ordered
    source_only = Guideline.model_validate({"source": None})  # only the source labelled
    assert guideline_difference([source_only], [Guideline(source=None, title="whatever", pages=[3])]) is None


def test_guidelines_inside_items() -> None:
    truth = label({"items": [item("Norco", reviewer_guidelines=[MTUS_CP])]})
    guess = predicted({"items": [item("Norco", reviewer_guidelines=[{**MTUS_CP, "pages": [78]}])]})
    fields, misses, _ = score_determination(truth, guess)
    assert counts(fields, "items[].reviewer_guidelines") == (0, 1, 1)
    assert "items[].claims_administrator_guidelines" not in fields  # not labelled
    (miss,) = misses
    assert miss.where == "items[0].reviewer_guidelines (pages differ)"
    assert miss.expected[0]["pages"] == [78, 79]


def test_citations_are_counted_on_source_and_pages_apart_from_the_whole_list() -> None:
    """A citation whose title or sections are worded otherwise still counts by source and pages;
    a missing or invented one costs recall or precision; none of it enters ``fields``."""
    odg = {"source": "ODG", "title": "ODG Low Back", "sections": [], "pages": []}
    truth = label({"items": [item("Norco", reviewer_guidelines=[MTUS_CP, odg])]})
    worded = {**MTUS_CP, "title": "Chronic pain guidelines", "sections": ["Opioids"]}
    guess = predicted({"items": [item("Norco", reviewer_guidelines=[odg, worded, {**odg, "pages": [3]}])]})
    fields, _, citations = score_determination(truth, guess)
    assert counts(fields, "items[].reviewer_guidelines") == (0, 1, 1)  # the whole list differs
    assert counts(citations, "items[].reviewer_guidelines") == (2, 2, 3)  # both found, one invented
    assert set(citations) == {"items[].reviewer_guidelines"}  # only labelled lists
    missed = score_fixture(
        Fixture.model_validate(
            {"document": {"id": "x", "path": "x.pdf"}, "determination": truth.model_dump()}
        ),
        None,
    )
    assert counts(missed.citations, "items[].reviewer_guidelines") == (0, 2, 0)


def test_a_document_error_misses_everything() -> None:
    fixture = Fixture.model_validate(
        {
            "document": {"id": "x", "path": "letters/x.pdf"},
            "determination": {"case": {"case_number": "CM1"}, "items": [item("Norco"), item("MRI")]},
        }
    )
    letter = score_fixture(fixture, None, error="unreadable_pdf: no text")
    assert letter.error == "unreadable_pdf: no text"
    assert (letter.right, letter.total) == (0, 1 + 2 + 3 * 2)
    assert counts(letter.fields, "items") == (0, 2, 0)
    assert [m.kind for m in letter.misses] == ["error"]


def test_skip_and_aggregate() -> None:
    fixture = Fixture.model_validate(
        {
            "document": {"id": "x", "path": "synthetic/x.txt"},
            "determination": {"patient": {"age": 3, "diagnoses": ["a"], "mechanism_of_injury": None}},
        }
    )
    guess = predicted({"patient": {"age": 3}})
    first = score_fixture(fixture, guess, skip={"patient.diagnoses", "patient.mechanism_of_injury"})
    assert set(first.fields) == {"patient.age"}
    second = score_fixture(fixture, predicted({"patient": {"age": 4}}))
    totals = aggregate(letter.fields for letter in [first, second, LetterScore("empty")])
    assert list(totals) == ["patient.age", "patient.diagnoses", "patient.mechanism_of_injury"]
    assert counts(totals, "patient.age")[:2] == (1, 2)
    assert overall(totals).accuracy == pytest.approx(2 / 4)  # age 1/2, diagnoses 0/1, mechanism 1/1


def test_category_pairs_are_the_aligned_labelled_items() -> None:
    """The confusion table's cells: a missed item has no cell, an unlabelled category none either."""
    labelled = label(
        {
            "items": [
                item("MRI lumbar spine", category="imaging"),
                item("Norco 10/325 #60", category="medication"),
                {"request": "Gym membership", "decision": "Upheld"},  # category not labelled
                item("Acupuncture x6", category="acupuncture"),
            ]
        }
    )
    got = predicted(
        {
            "items": [
                item("MRI lumbar spine", category="imaging"),
                item("Norco 10/325 #60", category="other"),
                item("Gym membership", category="other"),
            ]
        }
    )
    fixture = Fixture(document={"id": "x", "path": "synthetic/x.txt"}, determination=labelled)
    assert category_pairs(labelled, got) == [("imaging", "imaging"), ("medication", "other")]
    assert score_fixture(fixture, got).categories == [("imaging", "imaging"), ("medication", "other")]
    assert category_pairs(labelled, None) == []


def test_chapters_are_scored_in_the_list_and_one_unit_per_labelled_citation_apart() -> None:
    """A wrong chapter makes the list wrong; beside it each labelled MTUS, ACOEM or ODG chapter is
    a unit matched on source and chapter (not in the overall), and an unlabelled chapter is not
    scored."""
    cpmtg = {**MTUS_CP, "chapter": "Chronic Pain Medical Treatment Guidelines"}
    knee = {"source": "ODG", "title": "ODG Knee", "chapter": "Knee & Leg (Acute & Chronic)", "sections": []}
    other = {"source": "other", "title": "A textbook", "chapter": None, "sections": [], "pages": []}
    truth = label({"items": [item("Norco", reviewer_guidelines=[cpmtg, {**knee, "pages": []}, other])]})
    guess = predicted(
        {"items": [item("Norco", reviewer_guidelines=[cpmtg, {**knee, "chapter": None, "pages": []}, other])]}
    )
    fields, misses, _ = score_determination(truth, guess)
    assert counts(fields, "items[].reviewer_guidelines") == (0, 1, 1)
    assert misses[0].where == "items[0].reviewer_guidelines (chapters differ)"
    assert counts(fields, "items[].reviewer_guidelines (chapter)") == (1, 2, 2)  # "other" is no unit
    assert overall(fields).total == 5  # items, request, decision, category, the list: chapters apart
    unlabelled = label({"items": [item("Norco", reviewer_guidelines=[MTUS_CP])]})
    fields, _, _ = score_determination(
        unlabelled, predicted({"items": [item("Norco", reviewer_guidelines=[cpmtg])]})
    )
    assert "items[].reviewer_guidelines (chapter)" not in fields
    assert counts(fields, "items[].reviewer_guidelines") == (1, 1, 1)
