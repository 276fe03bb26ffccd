"""Grounding the LLM's strings in the letter: every free-text field either has its evidence
span (where the letter says it, whatever the case, punctuation or line breaks) or is flagged as
possibly invented, under its own path."""

from __future__ import annotations

from difflib import SequenceMatcher

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractor.grounding import FUZZY_MAX_CHARS, LetterIndex, ground, longest_match
from extractor.schemas import Case, Decision, Determination, Item, Patient, Reviewer

LETTER = (
    "Case Number: CM99-0000042\n"
    "The reviewer is Board Certified in Orthopedic Surgery, with a subspecialty in\n"
    "Hand Surgery. The worker (injured when he fell from a ladder) has lumbar strain;\n"
    "IMR ISSUES: Physical therapy, 12 sessions: Upheld. Original request: PT x12.\n"
)
SAID = {  # path -> a value the letter states, written as the model might
    "determination.case.case_number": "CM99-0000042",
    "determination.reviewer.specialties[0]": "orthopedic surgery",
    "determination.reviewer.subspecialties[0]": "Hand Surgery.",
    "determination.patient.diagnoses[0]": "Lumbar strain",
    "determination.patient.mechanism_of_injury": "fell from a ladder",
    "determination.items[0].request": "Physical therapy, 12 sessions",
    "determination.items[0].original_request": "PT x12",
}
MADE_UP = {  # path -> a value the letter never states
    "determination.reviewer.specialties[1]": "Cardiothoracic Anesthesiology",
    "determination.reviewer.subspecialties[1]": "Pediatric Nephrology",
    "determination.patient.diagnoses[1]": "carpal tunnel syndrome of the wrist",
    "determination.items[1].request": "Hyperbaric oxygen chamber sessions",
    "determination.items[1].original_request": "Spinal cord stimulator trial",
}


def determination(values: dict[str, str]) -> Determination:
    def at(path: str) -> str:
        return values[f"determination.{path}"]

    return Determination(
        case=Case(case_number=at("case.case_number")),
        reviewer=Reviewer(
            specialties=[at("reviewer.specialties[0]"), at("reviewer.specialties[1]")],
            subspecialties=[at("reviewer.subspecialties[0]"), at("reviewer.subspecialties[1]")],
        ),
        patient=Patient(
            diagnoses=[at("patient.diagnoses[0]"), at("patient.diagnoses[1]")],
            mechanism_of_injury=at("patient.mechanism_of_injury"),
        ),
        items=[
            Item(
                request=at(f"items[{k}].request"),
                original_request=at(f"items[{k}].original_request"),
                decision=Decision.UPHELD,
            )
            for k in (0, 1)
        ],
    )


def test_every_free_text_field_is_grounded_or_flagged_under_its_path() -> None:
    evidence, checks = ground(determination(SAID | MADE_UP), LetterIndex(LETTER))
    assert set(evidence) == set(SAID)
    for field, spans in evidence.items():
        ((start, end),) = spans
        written = " ".join(LETTER[start:end].split()).lower().strip(".,;:()")
        assert written == " ".join(SAID[field].split()).lower().strip(".,;:()"), field
    assert {check.field: check.llm for check in checks} == MADE_UP
    for check in checks:
        assert (check.status, check.review, check.note) == (
            "llm_only",
            True,
            "not found in the letter: possibly invented",
        )


@pytest.mark.parametrize(
    ("value", "how", "found"),
    [
        ("Fell from a LADDER", "exact", "fell from a ladder)"),
        ("(injured when he", "exact", "(injured when he"),
        ("subspecialty in Hand Surgery", "exact", "subspecialty in\nHand Surgery."),
        ("fell from a ladderr", "fuzzy", "fell from a ladder)"),
        ("Physical therapie, 12 sessions", "fuzzy", "Physical therapy, 12 sessions:"),
        ("Case Number", "exact", "Case Number:"),  # at the very start
        ("Orthopedic Surgery with", "exact", "Orthopedic Surgery, with"),
        ("surgery", "exact", "Surgery,"),  # the first of two
        ("xyz fell from a ladder", "fuzzy", "he fell from a ladder)"),  # aligned from a space
        ("kidney transplant evaluation", "not_found", None),
        ("\u00ff\u00ff", "not_found", None),  # not a character in common
        ("  ", "not_found", None),
    ],
)
def test_a_value_is_found_where_the_letter_says_it(value: str, how: str, found: str | None) -> None:
    grounding = LetterIndex(LETTER).find(value)
    assert grounding.how == how
    if found is None:
        assert grounding.span is None
    else:
        assert grounding.span is not None
        start, end = grounding.span
        assert LETTER[start:end] == found


@settings(max_examples=500, deadline=None)
@given(text=st.text("ab c", max_size=60), needle=st.text("ab cd", max_size=20))
def test_the_longest_match_is_difflibs(text: str, needle: str) -> None:
    """The linear search finds the block difflib's quadratic one found: longest, then first in the
    needle, then first in the letter, so grounding is what it was."""
    matcher = SequenceMatcher(None, needle, text, autojunk=False)
    expected = matcher.find_longest_match(0, len(needle), 0, len(text))
    found = longest_match(needle, text)
    assert found.size == expected.size
    if found.size:
        assert found == expected


def test_a_value_too_long_for_a_near_match_is_found_exactly_or_not_at_all() -> None:
    """A 100 KB value not in the letter took 220 s; one past FUZZY_MAX_CHARS is not near-matched."""
    letter = LetterIndex(LETTER * 50)
    assert letter.find(LETTER * 40).how == "exact"
    assert letter.find("xyz fell from a ladder" + "!" * FUZZY_MAX_CHARS).how == "not_found"
    assert letter.find("xyz fell from a ladder").how == "fuzzy"
    assert letter.find("he fell from a ladder " * 6_000).how == "not_found"
