"""The item classifier, and what of an item the hybrid merge lets the LLM pass decide."""

from __future__ import annotations

import pytest

from extractor.crosscheck import _merge_item, compare
from extractor.grounding import LetterIndex
from extractor.pipeline import review_checks
from extractor.rules.categories import classify, is_confident
from extractor.schemas import Backend, Category, Decision, Determination, Guideline, Item


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


def _merged(rules: Item, llm: Item, letter: LetterIndex) -> Item:
    return _merge_item(0, rules, llm, {}, letter)[0]


def test_the_llm_decides_only_a_fallback_category() -> None:
    llm, letter = Category.ELECTRODIAGNOSTIC, LetterIndex("")
    known = _merged(_item("Pre-operative EKG", Category.OTHER), _item("Pre-operative EKG", llm), letter)
    assert known.category is Category.OTHER
    unknown = _merged(
        _item("Ergonomic assessment", Category.OTHER), _item("Ergonomic assessment", llm), letter
    )
    assert unknown.category is llm


def test_the_llm_fills_guidelines_only_with_titles_the_letter_names() -> None:
    letter = LetterIndex("Decision based on MTUS Chronic Pain Medical Treatment Guidelines, page 99.")
    named = Guideline(source="MTUS", title="Chronic Pain Medical Treatment Guidelines", pages=[99])
    invented = Guideline(source="ACOEM", title="Physical Medicine and Rehabilitation", sections=["1.2"])
    rules = _item("Physical therapy", Category.PHYSICAL_THERAPY)
    filled = _merged(rules, rules.model_copy(update={"reviewer_guidelines": [named]}), letter)
    assert filled.reviewer_guidelines == [named]
    kept = _merged(rules, rules.model_copy(update={"reviewer_guidelines": [named, invented]}), letter)
    assert kept.reviewer_guidelines == []
    # the title is named (as the reviewer's specialty), the section is not
    letter = LetterIndex("Board Certified in Physical Medicine and Rehabilitation.")
    assert _merged(rules, rules.model_copy(update={"reviewer_guidelines": [invented]}), letter) == rules


@pytest.mark.parametrize(
    ("rules", "llm", "status", "review"),
    [
        ("Upheld", "Upheld", "agree", False),
        ("Upheld", "Overturned", "disagree", True),
        ("Upheld", None, "rules_only", False),
        (None, "Upheld", "llm_only", True),
        (None, None, "agree", False),
    ],
)
def test_a_check_needs_review_exactly_when_the_passes_disagree_or_only_the_llm_read_it(
    rules: str | None, llm: str | None, status: str, review: bool
) -> None:
    """`needs_review` is "some check says review", so a disagreement must say it itself."""
    check = compare("determination.items[0].decision", rules, llm)
    assert (check.status, check.review) == (status, review)


@pytest.mark.parametrize(
    ("backend", "status"), [("rules", "rules_only"), ("llm", "llm_only"), ("hybrid", "agree")]
)
def test_a_missing_required_field_says_who_looked_and_why(backend: Backend, status: str) -> None:
    """In hybrid both passes looked and neither found it: they agree, and a person still looks."""
    determination = Determination(items=[Item(request="MRI", decision=Decision.UPHELD)])
    checks = review_checks(determination, backend, header_chars=0)
    assert {(c.field, c.status, c.review) for c in checks} == {
        ("determination.case.case_number", status, True),
        ("determination.case.decision_date", status, True),
    }
    assert all("the letter has no header block" in (c.note or "") for c in checks)
    assert all(
        "header" not in (c.note or "") for c in review_checks(determination, backend, header_chars=180)
    )
