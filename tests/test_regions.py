"""Body regions in the contract's vocabulary, on phrases written for this test."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from extractor.rules.regions import regions_in
from extractor.schemas import Region

_VOCABULARY = Path(__file__).resolve().parents[1] / "extractor" / "rules" / "regions.toml"

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
