"""The patient's body regions as shared/CONTRACT.md defines them, on summaries written for this test.

Diagnosed, injured or complained of counts; where pain or numbness only reaches, what an
examination or a test found, what a request is for, what the worker denies and the history do not.
"""

from __future__ import annotations

import pytest

from extractor.fields import path
from extractor.regions import regions_in
from extractor.rules import extract_rules
from tests.test_confidence import letter

OPENING = "The injured worker is a 45 year old male who sustained an industrial injury on 3/4/15. "

CASES = [
    # diagnosed
    ("The diagnoses include lumbar strain and right knee sprain.",
     [("lumbar_spine", None), ("knee", "right")]),
    # injured, then diagnosed: in the order first named
    ("He injured his neck and back when he fell. The diagnoses include left hip strain.",
     [("cervical_spine", None), ("lumbar_spine", None), ("hip", "left")]),
    ("The applicant has filed a claim for shoulder pain.", [("shoulder", None)]),
    # complained of, with no diagnosis listed; a side written later is taken
    ("He complains of continued neck and shoulder complaints. He reported left shoulder pain.",
     [("cervical_spine", None), ("shoulder", "left")]),
    ("Symptoms of anxiety and headaches were reported.", [("psyche", None), ("head", None)]),
    # where the pain only reaches
    ("He complains of low back pain radiating to the left leg.", [("lumbar_spine", None)]),
    ("He has neck pain with numbness and tingling of the right thumb.", [("cervical_spine", None)]),
    ("She reports back pain and left lower extremity paresthesias.", [("lumbar_spine", None)]),
    # found on examination, or the target of a test or request
    ("He complains of low back pain. Examination showed tenderness over the right knee.",
     [("lumbar_spine", None)]),
    ("He complains of neck pain. An MRI of the left shoulder for the pain was requested.",
     [("cervical_spine", None)]),
    # denied, the history, how it happened, the date of injury
    ("He complains of knee pain. He denied abdominal pain or chest pain.", [("knee", None)]),
    ("He complains of back pain. His medical history of hypertension is noted.", [("lumbar_spine", None)]),
    ("She has wrist pain. She was injured when she fell onto her outstretched right hand.",
     [("wrist", None)]),
    ("He wore an arm sling from the date of injury. He complains of neck pain.", [("cervical_spine", None)]),
    ("The injured worker is undergoing treatment. No region is named.", []),
]  # fmt: skip


@pytest.mark.parametrize(("summary", "expected"), CASES)
def test_the_regions_the_summary_names_as_the_patients(
    summary: str, expected: list[tuple[str, str | None]]
) -> None:
    text = letter(OPENING + summary + "\n")
    rules = extract_rules(text)
    regions = rules.determination.patient.body_regions
    assert [(r.region.value, r.side) for r in regions] == expected
    spans = rules.field_evidence.get(path("patient", "body_regions"), [])
    assert bool(spans) == bool(expected)
    named = {r.region for start, end in spans for r in regions_in(text[start:end])}
    assert named == {r.region for r in regions}  # each region has a span that names it, and no other
