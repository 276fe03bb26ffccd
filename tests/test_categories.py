"""The item classifier: precedence, and which ``other`` the LLM pass may re-decide."""

from __future__ import annotations

import pytest

from extractor.crosscheck import _merge_item
from extractor.rules.categories import classify, is_confident
from schemas import Category, Decision, Item


@pytest.mark.parametrize(
    ("request_text", "category", "confident"),
    [
        ("Pre-operative EKG", Category.OTHER, True),
        ("Electrocardiogram times 3", Category.OTHER, True),
        ("Sleep study", Category.OTHER, True),
        ("Gym membership x 6 months", Category.OTHER, True),
        ("Weight loss program", Category.OTHER, True),
        # a cue of a real category comes first: the known-other list is the last rule
        ("Phentermine 37.5mg #30 for weight loss", Category.MEDICATION, True),
        ("Pre-operative CBC", Category.LABORATORY, True),
        ("EMG/NCV of the bilateral upper extremities", Category.ELECTRODIAGNOSTIC, True),
        ("Associated surgical service: Cold therapy unit", Category.DME, True),
        ("Ergonomic workstation assessment", Category.OTHER, False),
    ],
)
def test_classify(request_text: str, category: Category, confident: bool) -> None:
    assert classify(request_text) is category
    assert is_confident(request_text) is confident


def _item(request: str, category: Category) -> Item:
    return Item(request=request, decision=Decision.UPHELD, category=category)


def test_the_llm_decides_only_a_fallback_category() -> None:
    llm = Category.ELECTRODIAGNOSTIC
    known = _merge_item(_item("Pre-operative EKG", Category.OTHER), _item("Pre-operative EKG", llm))
    assert known.category is Category.OTHER
    unknown = _merge_item(_item("Ergonomic assessment", Category.OTHER), _item("Ergonomic assessment", llm))
    assert unknown.category is llm
