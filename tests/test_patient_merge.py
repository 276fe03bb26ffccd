"""The hybrid merge of the fields outside the items: the rules value stands where the rules read
the field; a value only the LLM found fills only a field the rules could not read."""

from __future__ import annotations

import datetime as dt

from extractor.crosscheck import KEPT_OUT, merge
from extractor.fields import regions_within, same_diagnoses
from extractor.rules import NO_SUMMARY, extract_rules
from extractor.schemas import BodyRegion, Case, Decision, Determination, Item, Patient, Region

SUMMARY = (
    "CLINICAL CASE SUMMARY:\n"
    "The worker is a 40 year old female injured on 1/2/2016 when she slipped on a wet ramp.\n"
    "She has been diagnosed with wrist sprain and elbow strain.\n"
)
DECISIONS = "IMR ISSUES, DECISIONS AND RATIONALES:\nMRI of the wrist: Upheld\n"
LETTER = "INDEPENDENT MEDICAL REVIEW\nCase Number: CM99-0000001\n" + SUMMARY + DECISIONS

ASKED = frozenset({"case", "reviewer", "patient", "items"})
"""The model was asked about every section."""


def _llm(patient: Patient, case: Case | None = None) -> Determination:
    item = Item(request="MRI of the wrist", decision=Decision.UPHELD)
    return Determination(case=case or Case(case_number="CM99-0000001"), patient=patient, items=[item])


def _checks(checks: list, field: str) -> list:
    return [c for c in checks if c.field == f"determination.{field}"]


def test_the_passes_agree_on_diagnoses_worded_a_little_differently() -> None:
    assert same_diagnoses(["wrist sprain", "elbow strain"], ["Elbow strain.", "wrist sprain"])
    assert not same_diagnoses(["wrist sprain", "elbow strain"], ["wrist sprain"])
    assert not same_diagnoses(["wrist sprain"], ["knee sprain"])


def test_rules_diagnoses_and_mechanism_stand_and_a_disagreement_is_flagged() -> None:
    rules = extract_rules(LETTER)
    llm = _llm(
        Patient(age=40, sex="female", diagnoses=["wrist sprain"], mechanism_of_injury="slipped on a wet ramp")
    )
    merged, evidence, checks = merge(rules, llm, LETTER, ASKED)
    assert merged.patient.diagnoses == ["wrist sprain", "elbow strain"]
    assert "determination.patient.diagnoses[1]" in evidence
    (diagnoses,) = _checks(checks, "patient.diagnoses")
    assert (diagnoses.status, diagnoses.review) == ("disagree", True)
    (mechanism,) = _checks(checks, "patient.mechanism_of_injury")
    assert (mechanism.status, mechanism.review) == ("agree", False)


def test_a_value_only_the_llm_found_for_a_field_the_rules_read_is_a_check_not_a_value() -> None:
    rules = extract_rules(LETTER)
    assert rules.determination.case.ur_denial_date is None
    guess = dt.date(2016, 3, 1)
    llm = _llm(Patient(age=40), Case(case_number="CM99-0000001", ur_denial_date=guess))
    merged, _, checks = merge(rules, llm, LETTER, ASKED)
    assert merged.case.ur_denial_date is None
    (check,) = _checks(checks, "case.ur_denial_date")
    assert (check.status, check.llm, check.review, check.note) == ("llm_only", "2016-03-01", True, KEPT_OUT)


def test_the_llm_fills_what_the_rules_could_not_read_and_says_so() -> None:
    letter = "INDEPENDENT MEDICAL REVIEW\nCase Number: CM99-0000001\n" + DECISIONS
    rules = extract_rules(letter)
    llm = _llm(Patient(diagnoses=["wrist sprain"]))
    merged, _, checks = merge(rules, llm, letter, ASKED)
    assert merged.patient.diagnoses == ["wrist sprain"]
    (check,) = _checks(checks, "patient.diagnoses")
    assert (check.status, check.review) == ("llm_only", True)
    assert (check.note or "").startswith(NO_SUMMARY)


def _regions(*pairs: tuple[str, str | None]) -> list[BodyRegion]:
    return [BodyRegion(region=Region(region), side=side) for region, side in pairs]


def test_the_llm_regions_agree_when_the_rules_read_them_and_more() -> None:
    """The LLM pass's regions are its diagnoses'; the rules pass adds those of the complaints."""
    rules = _regions(("cervical_spine", None), ("knee", "bilateral"), ("shoulder", "left"))
    assert regions_within(rules, _regions(("knee", "left"), ("shoulder", None)))
    assert regions_within(rules, [])
    assert not regions_within(rules, _regions(("hip", None)))
    assert not regions_within(rules, _regions(("shoulder", "right")))


def test_the_rules_regions_stand_and_the_diagnosis_regions_of_the_llm_agree() -> None:
    letter = LETTER.replace("She has been", "She complains of left knee pain. She has been")
    rules = extract_rules(letter)
    llm = _llm(
        Patient(
            diagnoses=["wrist sprain", "elbow strain"],
            body_regions=_regions(("wrist", None), ("elbow", None)),
        )
    )
    merged, _, checks = merge(rules, llm, letter, ASKED)
    assert [(r.region.value, r.side) for r in merged.patient.body_regions] == [
        ("knee", "left"), ("wrist", None), ("elbow", None)
    ]  # fmt: skip
    (check,) = _checks(checks, "patient.body_regions")
    assert (check.status, check.review) == ("agree", False)
