"""Every flag the hybrid raises, each provoked by a model answer that errs in one known way.

The answers come from the hand labels (tests/labelled.py), not from the rules pass, so the
merge is tested against a second reading of the letter; each test fails when its flag is not
raised: a disagreement, a value only one pass read, a value the letter never states, dates out
of order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evals.fixtures import LoadedFixture
from extractor import extract
from extractor.confidence import THRESHOLD
from extractor.crosscheck import KEPT_OUT, UNCONFIRMED, compare
from extractor.llm import LLMConfig
from extractor.schemas import Backend, Check, Record
from support.fake_openai import FakeOpenAI, completion, served
from tests.labelled import SYNTHETIC, answer, flipped, labelled, replaced

MANY = labelled("synthetic-many-items")
"""Five items, every header date, a reviewer and a patient: room for every kind of error."""
NO_HEADER = labelled("synthetic-seed-style-latin1")
"""Published as its body only: no case number or decision date for the rules pass to read."""


def run(letter: Path | str, arguments: dict[str, Any], backend: Backend = "hybrid") -> Record:
    with FakeOpenAI(default=completion(served(arguments))) as fake:
        config = LLMConfig(
            base_url=fake.base_url, model="labelled", api_key="sk-test", max_retries=0, scope="all"
        )
        record = extract(letter, backend=backend, llm_config=config)
    assert fake.errors == []
    return record


def check(record: Record, field: str) -> Check:
    (found,) = [c for c in record.checks if c.field == f"determination{field}"]
    return found


@pytest.mark.parametrize("stem", SYNTHETIC)
def test_an_answer_as_labelled_agrees_on_every_item(stem: str) -> None:
    loaded = labelled(stem)
    record = run(loaded.document, answer(loaded))
    labels = loaded.fixture.determination.items
    assert [(i.request, i.decision) for i in record.determination.items] == [
        (i.request, i.decision) for i in labels
    ]
    items = [c for c in record.checks if c.field.startswith("determination.items")]
    assert {c.status for c in items} == {"agree"}, [c for c in items if c.status != "agree"]
    assert record.determination.reviewer == loaded.fixture.determination.reviewer


def test_a_request_worded_a_little_differently_agrees() -> None:
    """Requests are compared as similar text, not equal strings: case and a stray word pass."""
    request = MANY.fixture.determination.items[0].request
    record = run(MANY.document, replaced(answer(MANY), "items[0]", "request", request.lower()))
    assert check(record, ".items[0].request").status == "agree"
    assert record.determination.items[0].request == request


def test_a_decision_the_passes_disagree_on_is_flagged_and_the_rules_value_stands() -> None:
    record = run(MANY.document, flipped(answer(MANY), 1))
    found = check(record, ".items[1].decision")
    assert (found.status, found.review) == ("disagree", True)
    assert {found.rules, found.llm} == {"Upheld", "Overturned"}  # as the record writes them
    assert record.determination.items[1].decision == MANY.fixture.determination.items[1].decision
    assert record.needs_review


def test_a_value_the_model_left_empty_is_rules_only() -> None:
    record = run(MANY.document, replaced(answer(MANY), "patient", "mechanism_of_injury", None))
    found = check(record, ".patient.mechanism_of_injury")
    assert (found.status, found.review, found.llm) == ("rules_only", False, None)
    labelled_mechanism = MANY.fixture.determination.patient.mechanism_of_injury
    assert record.determination.patient.mechanism_of_injury == labelled_mechanism


def test_a_value_only_the_model_reports_is_llm_only_and_kept_out() -> None:
    assert NO_HEADER.fixture.determination.case.ur_denial_date is None
    guess = "2013-03-01"
    record = run(NO_HEADER.document, replaced(answer(NO_HEADER), "case", "ur_denial_date", guess))
    found = check(record, ".case.ur_denial_date")
    assert (found.status, found.review, found.llm, found.note) == ("llm_only", True, guess, KEPT_OUT)
    assert record.determination.case.ur_denial_date is None
    assert record.needs_review


def test_the_header_is_asked_only_when_the_rules_could_not_read_it() -> None:
    def asked(letter: LoadedFixture, backend: Backend) -> tuple[list[str | None], Record]:
        with FakeOpenAI(default=completion(served(answer(letter)))) as fake:
            config = LLMConfig(base_url=fake.base_url, model="labelled", api_key="sk-test", scope="all")
            record = extract(letter.document, backend=backend, llm_config=config)
        return [r.tool_name for r in fake.requests], record

    read, record = asked(MANY, "hybrid")
    assert read == ["Patient"] + ["Item"] * len(MANY.fixture.determination.items)
    header = ("determination.case.", "determination.reviewer.")
    assert not [c for c in record.checks if c.field.startswith(header)]
    assert record.determination.case == MANY.fixture.determination.case
    assert asked(MANY, "llm")[0][0] == "Header"
    assert asked(NO_HEADER, "hybrid")[0][0] == "Header"


@pytest.mark.parametrize(
    ("section", "key", "field"),
    [
        ("items[0]", "request", ".items[0].request"),
        ("patient", "mechanism_of_injury", ".patient.mechanism_of_injury"),
    ],
    ids=["request", "mechanism"],
)
def test_a_value_the_letter_never_states_is_possibly_invented(section: str, key: str, field: str) -> None:
    made_up = "hyperbaric oxygen chamber sessions twice weekly"
    record = run(MANY.document, replaced(answer(MANY), section, key, made_up), backend="llm")
    found = check(record, field)
    assert (found.status, found.review, found.llm) == ("llm_only", True, made_up)
    assert "possibly invented" in (found.note or "")
    assert record.needs_review
    grounded = run(MANY.document, answer(MANY), backend="llm")
    assert not [c for c in grounded.checks if "possibly invented" in (c.note or "")]


@pytest.mark.parametrize("backend", ["rules", "hybrid"])
def test_dates_out_of_order_are_flagged_inconsistent(backend: Backend, tmp_path: Path) -> None:
    """Injured after the UR denial: the rules pass reads the dates as written and says so."""
    letter = tmp_path / "out-of-order.txt"
    text = MANY.document.read_text(encoding="utf-8")
    text = text.replace("Date of Injury: 10/05/2016", "Date of Injury: 10/05/2017", 1)
    letter.write_text(text, encoding="utf-8")
    # a model held to the schema cannot answer inconsistent dates: it leaves the injury date out
    record = run(letter, replaced(answer(MANY), "case", "date_of_injury", None), backend=backend)
    found = check(record, "")
    assert found.review
    assert found.note == "inconsistent: date_of_injury 2017-10-05 is after ur_denial_date 2017-04-06"
    assert record.needs_review
    consistent = run(MANY.document, answer(MANY)).checks
    assert not [c for c in consistent if (c.note or "").startswith("inconsistent")]


def test_guidelines_the_passes_cite_differently_disagree_as_json() -> None:
    cited = answer(MANY)["items"][0]["reviewer_guidelines"]
    other = [{**cited[0], "pages": [999]}]
    record = run(MANY.document, replaced(answer(MANY), "items[0]", "reviewer_guidelines", other))
    found = check(record, ".items[0].reviewer_guidelines")
    assert (found.status, found.llm) == ("disagree", other)
    assert found.rules == cited
    # flagged only when the contest leaves the rules' list below the threshold (the calibration
    # counts how often the rules list was right against such a contest)
    confidence = record.confidence[found.field]
    assert found.review == (confidence < THRESHOLD)
    if not found.review:
        assert (
            found.note == f"not flagged: the rules value stands at {confidence:.2f} against this disagreement"
        )


def test_a_value_only_the_model_reports_is_unconfirmed() -> None:
    found = compare("determination.patient.age", None, 40)
    assert (found.status, found.review, found.llm, found.note) == ("llm_only", True, 40, UNCONFIRMED)


DOUBTFUL = """HOW THE IMR FINAL DETERMINATION WAS MADE
The expert reviewer is Board Certified in Internal Medicine and is licensed to practice in California.
CLINICAL CASE SUMMARY
This is a 50 year-old female who was injured on 1/2/15.
IMR ISSUES, DECISIONS AND RATIONALES
Tramadol 50mg #60: Upheld
Claims Administrator guideline: Decision based on MTUS Chronic Pain Medical Treatment Guidelines,
Section(s): Opioids, Zebra crossing rules.
MAXIMUS guideline: Decision based on MTUS Chronic Pain Medical Treatment Guidelines, Section(s):
Opioids.
Decision rationale: The request is not medically necessary.
"""


def test_an_item_field_the_rules_doubt_stays_flagged_in_hybrid_even_when_the_model_agrees() -> None:
    """A guideline list split next to a section name the rules do not know needs a person, even
    when the model read the same list."""
    from support.fake_openai import perfect, respond

    field = "determination.items[0].claims_administrator_guidelines"
    with FakeOpenAI(default=respond(perfect)) as fake:
        config = LLMConfig(base_url=fake.base_url, model="perfect", api_key="sk-test", scope="all")
        record = extract(DOUBTFUL, backend="hybrid", llm_config=config)
    (found,) = [c for c in record.checks if c.field == field]
    assert (found.status, found.review) == ("agree", True)
    assert found.note is not None
    assert found.note.startswith("doubtful (0.50): unknown guideline section name")
    assert record.needs_review
