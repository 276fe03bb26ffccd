"""Partial authorisations, the surgery an item serves, and a retrospective item's date of service,
on letters written for this test."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from extractor import extract
from extractor.export import ITEM_COLUMNS, write_items_csv
from extractor.rules import extract_rules
from extractor.rules.services import dependencies, serves_surgery, service_date
from extractor.schemas import Category, Decision, Item

HEAD = "INDEPENDENT MEDICAL REVIEW\nCase Number: CM99-0000002\nDecision Date: 02/01/2017\n"
DECISIONS = "IMR ISSUES, DECISIONS AND RATIONALES:\n"


def _items(headings: str) -> list[Item]:
    return extract_rules(HEAD + DECISIONS + headings).determination.items


def test_partial_authorisation_reads_what_was_authorized() -> None:
    (item,) = _items(
        "Splint x2 was the original request. Splint x1 was authorized by the Claims Administrator.\n"
        "The remaining IMR eligible portion of the original request, Splint x1 is: Upheld\n"
    )
    assert (item.request, item.original_request, item.authorized) == ("Splint x1", "Splint x2", "Splint x1")


def test_partial_authorisation_in_the_claims_administrator_authorized_wording() -> None:
    (item,) = _items(
        "Gabapentin 300mg #90 was the original request. The Claims Administrator authorized\n"
        "Gabapentin 300mg #30, leaving the original request IMR eligible. The original request,\n"
        "Gabapentin 300mg #90 is: Overturned\n"
    )
    assert item.authorized == "Gabapentin 300mg #30"
    assert item.original_request == "Gabapentin 300mg #90"


def test_partial_authorisation_without_is_before_the_colon() -> None:
    (item,) = _items(
        "Tizanidine 4mg #60 was the original request. Tizanidine 4mg #20 was authorized by the\n"
        "Claims Administrator. The remaining IMR eligible portion of the original request,\n"
        "Tizanidine 4mg #40: Upheld\n"
    )
    assert (item.request, item.authorized) == ("Tizanidine 4mg #40", "Tizanidine 4mg #20")


def test_a_partial_authorisation_heading_longer_than_six_lines_parses() -> None:
    lines = ("Aquatic therapy twice", "a week for", "six weeks for", "the lumbar spine", "and both knees")
    original = "\n".join(lines)
    (item,) = _items(
        f"{original} was the original\nrequest. Aquatic therapy for four\nweeks was authorized by\n"
        "the Claims Administrator. The\nremaining IMR eligible portion\nof the original request,\n"
        "Aquatic therapy for two\nweeks is: Upheld\n"
    )
    assert item.original_request == " ".join(lines)
    assert item.request == "Aquatic therapy for two weeks"
    assert item.authorized == "Aquatic therapy for four weeks"


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Retrospective Naproxen 550mg #60 (DOS 1/5/17)", dt.date(2017, 1, 5)),
        ("Retrospective request for a knee brace, dispensed on 12/20/2016", dt.date(2016, 12, 20)),
        ("RETROSPECTIVE TOPICAL CREAM, PER 11/30/2016 ORDER", dt.date(2016, 11, 30)),
        ("Retrospective urine drug screen", None),
        ("MRI of the knee (requested 1/5/17)", None),
    ],
)
def test_a_retrospective_item_states_its_date_of_service(heading: str, expected: dt.date | None) -> None:
    assert service_date(heading, dt.date(2017, 2, 1)) == expected


def _item(request: str, category: Category) -> Item:
    return Item(request=request, decision=Decision.UPHELD, category=category)


def test_associated_and_post_operative_items_depend_on_the_surgery_above_them() -> None:
    items = [
        _item("Pre-operative labs", Category.LABORATORY),
        _item("Left wrist carpal tunnel release", Category.SURGERY),
        _item("Associated surgical service: Assistant surgeon", Category.SURGERY),
        _item("Post-op physical therapy x8", Category.PHYSICAL_THERAPY),
        _item("Right knee arthroscopy", Category.SURGERY),
        _item("Associated surgical service: Knee brace", Category.DME),
        _item("Naproxen 550mg #60", Category.MEDICATION),
    ]
    assert dependencies(items) == [None, None, 1, 1, None, 4, None]
    assert dependencies(items[5:]) == [None, None]  # no surgery disputed in the letter
    assert dependencies([items[3], items[1]]) == [1, None]  # served by the surgery below it
    assert not serves_surgery("Pre-operative labs")
    assert serves_surgery("Postoperative cold therapy unit")


def test_the_rules_pass_links_an_associated_service_to_its_surgery_with_evidence() -> None:
    letter = (
        HEAD
        + DECISIONS
        + ("Right shoulder arthroscopy: Overturned\nAssociated surgical service: Sling: Upheld\n")
    )
    rules = extract_rules(letter)
    assert [item.depends_on for item in rules.determination.items] == [None, 0]
    assert "determination.items[1].depends_on" in rules.evidence


def test_items_csv_ends_with_the_new_columns() -> None:
    letter = (
        HEAD
        + "CLINICAL CASE SUMMARY:\nShe has been diagnosed with left knee strain.\n"
        + DECISIONS
        + ("Left knee arthroscopy: Overturned\nAssociated surgical service: Knee brace: Upheld\n")
    )
    stream = io.StringIO()
    write_items_csv([extract(letter)], stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    backend = ITEM_COLUMNS.index("backend")  # the last of the first columns; later ones follow
    assert ITEM_COLUMNS[backend + 1 : backend + 6] == (
        "authorized",
        "depends_on",
        "date_of_service",
        "body_regions",
        "patient_body_regions",
    )
    assert [(row["depends_on"], row["body_regions"], row["patient_body_regions"]) for row in rows] == [
        ("", "knee:left", "knee:left"),
        ("0", "knee", "knee:left"),
    ]


def test_the_original_request_has_its_evidence_as_every_value_does() -> None:
    """The README says every value carries its span; original_request had none."""
    text = (
        HEAD + DECISIONS + "Splint x2 was the original request. Splint x1 was authorized by the Claims "
        "Administrator.\nThe remaining IMR eligible portion of the original request, Splint x1 is: Upheld\n"
    )
    record = extract(text)
    spans = record.evidence["determination.items[0].original_request"]
    assert any("Splint x2" in text[start:end] for start, end in spans)
    item = record.determination.items[0]
    for name in ("request", "original_request", "authorized", "decision", "category"):
        assert getattr(item, name) is not None
        assert f"determination.items[0].{name}" in record.evidence, name
