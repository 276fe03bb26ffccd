"""The hybrid merge, field by field, against what the registry of fields says of each.

For every cross-checked key field of extractor.fields and every contest between the passes
(agree, disagree, rules only, LLM only), the record holds the value ``KeyField.fill`` says: the
rules pass's, or the LLM's where the field's condition holds (the rules could not read it, the
classifier could not decide, the letter names every guideline the LLM cites).  A field added to
the registry is tested here without a line more; one whose type has no sample values fails
until :func:`samples` has them.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
from typing import Any, Literal, Union, get_args, get_origin

import pytest

from extractor.crosscheck import merge
from extractor.fields import ITEMS, KEY_FIELDS, SECTIONS, KeyField, json_value
from extractor.layout import split_sections
from extractor.rules import RulesResult
from extractor.rules.categories import is_confident
from extractor.schemas import BodyRegion, Category, Decision, Determination, Guideline, Item, Region

CONTESTS = ("agree", "disagree", "rules_only", "llm_only")
CONFIDENT, UNDECIDED = "Pre-operative EKG", "Ergonomic workstation assessment"
"""Requests the item classifier decides, and one it cannot (tests/test_item_merge.py)."""
CITED = "Omega Guidelines"
ASKED = frozenset({*SECTIONS, ITEMS})


def _core(annotation: Any) -> tuple[Any, bool]:
    """The type under an optional one, and whether null is allowed."""
    args = get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType) and type(None) in args:
        return next(arg for arg in args if arg is not type(None)), True
    return annotation, False


def samples(key: KeyField) -> tuple[Any, Any]:
    """Two values of the field that its cross-check tells apart (the rules', the LLM's)."""
    core, _ = _core(key.info.annotation)
    if isinstance(core, type) and issubclass(core, enum.Enum):
        first, second, *_ = [member for member in core if member is not Category.OTHER]
        return first, second
    if get_origin(core) is Literal:
        first, second, *_ = get_args(core)
        return first, second
    if get_origin(core) is list:
        (element,) = get_args(core)
        pairs: dict[Any, tuple[Any, Any]] = {
            str: (["alpha"], ["omega zulu"]),
            BodyRegion: ([BodyRegion(region=Region.KNEE)], [BodyRegion(region=Region.SHOULDER)]),
            Guideline: (
                [Guideline(source="MTUS", title="Alpha Guidelines", sections=["Knee"], pages=[1])],
                [Guideline(source="ACOEM", title=CITED, sections=["Zulu"], pages=[2])],
            ),
        }
        return pairs[element]
    scalars: dict[Any, tuple[Any, Any]] = {
        str: ("alpha", "omega zulu"),
        int: (40, 61),
        dt.date: (dt.date(2016, 1, 2), dt.date(2016, 3, 4)),
    }
    return scalars[core]


def empty(key: KeyField) -> tuple[Any] | tuple[()]:
    """The field's empty value (null, an empty list), or none for a field that must have one."""
    core, nullable = _core(key.info.annotation)
    if nullable:
        return (None,)
    return ([],) if get_origin(core) is list else ()


def contested(key: KeyField, contest: str) -> tuple[Any, Any]:
    """(rules value, LLM value) making ``contest``."""
    ours, theirs = samples(key)
    nothing = empty(key)
    return {
        "agree": (ours, ours),
        "disagree": (ours, theirs),
        "rules_only": (ours, *nothing),
        "llm_only": (*nothing, theirs),
    }[contest]


def _holds_possible(key: KeyField, contest: str) -> bool:
    """Whether the field's condition can hold in ``contest``: a field the rules could not read, or
    guidelines they read none of, have no rules value."""
    if key.fill == "never":
        return False
    return key.fill == "undecided" or contest == "llm_only"


CASES = [
    pytest.param(key, contest, holds, id=f"{key.name}-{contest}{'-condition' if holds else ''}")
    for key in KEY_FIELDS
    if key.agree is not None and key.section in (*SECTIONS, ITEMS)
    for contest in CONTESTS
    if contest in ("agree", "disagree") or empty(key)
    for holds in (False, True)
    if not holds or _holds_possible(key, contest)
]


def _item(request: str, values: dict[str, Any]) -> Item:
    return Item(**{"request": request, "decision": Decision.UPHELD, "category": Category.IMAGING} | values)


def _passes(key: KeyField, ours: Any, theirs: Any, holds: bool) -> tuple[Determination, Determination]:
    """The two passes' determinations, alike but for ``key``'s values."""
    if key.section != ITEMS:
        rules, llm = Determination(items=[_item(CONFIDENT, {})]), Determination(items=[_item(CONFIDENT, {})])
        setattr(getattr(rules, key.section), key.key, ours)
        setattr(getattr(llm, key.section), key.key, theirs)
        return rules, llm
    request = UNDECIDED if key.fill == "undecided" and holds else CONFIDENT
    return Determination(items=[_item(request, {key.key: ours})]), Determination(
        items=[_item(request, {key.key: theirs})]
    )


@pytest.mark.parametrize(("key", "contest", "holds"), CASES)
def test_the_record_holds_the_value_the_registry_says(key: KeyField, contest: str, holds: bool) -> None:
    ours, theirs = contested(key, contest)
    rules, llm = _passes(key, ours, theirs, holds)
    where = key.at(0 if key.section == ITEMS else None)
    unread = {str(where): "not read: a test"} if key.fill == "unread" and holds else {}
    text = f"Decision based on {CITED}, Zulu." if key.fill == "cited" and holds else ""
    result = RulesResult(rules, {}, [{}], split_sections(text), unread)
    assert key.fill != "undecided" or is_confident(rules.items[0].request) is not holds
    merged, _, checks = merge(result, llm, text, ASKED)
    check = next(c for c in checks if c.field == str(where))  # the cross-check's, first
    assert check.status == contest
    assert check.review is (contest in ("disagree", "llm_only") or bool(unread))
    got = where.parent_in(merged.model_dump(mode="json"))[where.last]
    wins = theirs if holds and theirs not in (None, []) else ours
    assert got == json_value(wins), f"{key.name}: fill={key.fill}"


def test_every_cross_checked_field_of_the_sections_and_items_is_tested() -> None:
    tested = {case.values[0].name for case in CASES}
    assert tested == {key.name for key in KEY_FIELDS if key.agree is not None and key.section}
    assert {case.values[2] for case in CASES} == {False, True}
