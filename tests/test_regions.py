"""Body regions in the contract's vocabulary, on phrases written for this test."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from extractor.regions import regions_in
from extractor.rules import extract_rules
from extractor.schemas import Region

_VOCABULARY = Path(__file__).resolve().parents[1] / "extractor" / "regions.toml"

CASES = [
    ("MRI of the left knee without contrast", [("knee", "left")]),
    ("Occupational therapy for the right wrist and hand x6", [("wrist", "right"), ("hand", "right")]),
    ("Physical therapy for the neck, right elbow and head",
     [("cervical_spine", None), ("elbow", "right"), ("head", None)]),
    ("EMG/NCV of the bilateral lower extremities", [("lower_extremity", "bilateral")]),
    ("NCS of the LUE", [("upper_extremity", "left")]),
    ("Facet injections L3-4, L4-5", [("lumbar_spine", None)]),
    ("Cervical ESI at C6-C7 on the left", [("cervical_spine", None)]),
    ("low back strain; left thumb sprain; right thumb contusion",
     [("lumbar_spine", None), ("hand", "bilateral")]),
    ("back and right hip pain", [("lumbar_spine", None), ("hip", "right")]),
    ("mid back pain, upper arm contusion, forearm strain",
     [("thoracic_spine", None), ("upper_arm", None), ("forearm", None)]),
    ("anxiety; hypertension; headaches", [("psyche", None), ("systemic", None), ("head", None)]),
    ("left inguinal hernia; umbilical hernia", [("pelvis", "left"), ("abdomen", None)]),
    ("Knee brace for both knees", [("knee", "bilateral")]),
    ("Naproxen 550mg #60", []),
    ("Backpack-style brace", []),  # a word inside another word never names a region
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_regions_in_order_with_sides(text: str, expected: list[tuple[str, str | None]]) -> None:
    assert [(r.region.value, r.side) for r in regions_in(text)] == expected


def test_the_vocabulary_names_only_contract_regions() -> None:
    data = tomllib.loads(_VOCABULARY.read_text())
    named = {*data["terms"], *data["sided_terms"], *data["sided"]}
    assert named <= {region.value for region in Region}


LETTER = (
    "INDEPENDENT MEDICAL REVIEW\nCase Number: CM99-0000003\nDecision Date: 02/01/2017\n"
    "IMR ISSUES, DECISIONS AND RATIONALES:\n{heading}: Upheld\n"
    "Claims Administrator guideline: Decision based on MTUS Chronic Pain Medical Treatment 2009.\n"
    "Decision rationale: {rationale}\n"
)

# An item whose request names no region takes the place its rationale says the request is for;
# a region the rationale names only in a guideline quote or the patient's history is not read.
FALLBACK = [
    ("MRI without contrast",
     "Guidelines support imaging after red flags. The request for an MRI of the left knee is not "
     "medically necessary.", [("knee", "left")]),
    ("Physical therapy 8 sessions",
     "The current request is for 8 sessions of therapy to the right shoulder and neck. It is certified.",
     [("shoulder", "right"), ("cervical_spine", None)]),
    ("Physical therapy 6 visits",
     "Therapy was requested for the low back, as the knee had improved. The request is certified.",
     [("lumbar_spine", None)]),
    ("Norco 10/325mg #60",
     "The worker has chronic neck pain. The request for Norco 10/325mg #60 is not medically necessary.", []),
    ("Cyclobenzaprine 7.5mg #30",
     "Muscle relaxants are a second-line option for acute low back pain. Therefore the request is not "
     "medically necessary.", []),
    ("Urine drug screen",
     "Based on the request for authorization for the lumbar spine dated 1/2/17, testing is not needed.", []),
    ("MRI of the right shoulder",  # the request's own region wins over the rationale's
     "The request for imaging of the knee is not medically necessary.", [("shoulder", "right")]),
]  # fmt: skip


@pytest.mark.parametrize(("heading", "rationale", "expected"), FALLBACK)
def test_an_item_without_a_region_takes_the_one_its_rationale_requests(
    heading: str, rationale: str, expected: list[tuple[str, str | None]]
) -> None:
    text = LETTER.format(heading=heading, rationale=rationale)
    rules = extract_rules(text)
    (item,) = rules.determination.items
    assert [(r.region.value, r.side) for r in item.body_regions] == expected
    spans = rules.item_evidence[0].get("body_regions", [])
    assert bool(spans) == bool(expected)
    assert all(regions_in(text[start:end]) == item.body_regions for start, end in spans)
