"""Hybrid = rules + LLM: compare every key field, merge, and never hide a disagreement.

Merge policy: a value the rules pass found with evidence wins. Where the rules pass read a
field and found it empty (the letter states none), a value only the LLM reports is a flagged
check, not part of the record, so hybrid is never below rules on a field the rules read. The
LLM fills only what the rules could not read (a field the rules pass marks "not read",
categories the classifier could not decide, and guidelines the rules could not read when their
titles are in the letter).  Items pair by position: both passes read the same item blocks of the
letter's layout, one item per block.  Every comparison is a ``Check`` and every disagreement is
flagged for review, never silently resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from extractor.drugs import medication
from extractor.fields import Comparator, KeyField, cross_checked, path
from extractor.grounding import LetterIndex, ground
from extractor.icd import coded
from extractor.rules import RulesResult
from extractor.rules.categories import cited, is_confident
from extractor.schemas import Category, Check, CheckStatus, Determination, Guideline, Item, Span

UNCONFIRMED = "only the LLM reported it: not confirmed by the rules pass"
KEPT_OUT = "only the LLM reported it; the rules pass read the field and found no value: not in the record"


def _json(value: Any) -> Any:
    if isinstance(value, list):
        return [_json(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return value


def compare(field: str, rules: Any, llm: Any, same: Comparator | None = None) -> Check:
    """One key field: empty on a side makes it one-sided, else agree or disagree.

    A disagreement and a value only the model reported (no evidence from the rules) both need
    a person, so both checks say ``review``.
    """
    rules_empty = rules is None or rules == []
    llm_empty = llm is None or llm == []
    status: CheckStatus
    if rules_empty and llm_empty:
        status = "agree"
    elif llm_empty:
        status = "rules_only"
    elif rules_empty:
        status = "llm_only"
    else:
        status = "agree" if (same or (lambda a, b: a == b))(rules, llm) else "disagree"
    if status == "llm_only":
        return Check(field=field, llm=_json(llm), status=status, review=True, note=UNCONFIRMED)
    return Check(field=field, rules=_json(rules), llm=_json(llm), status=status, review=status == "disagree")


def _check(key: KeyField, where: str, rules: Any, llm: Any) -> Check:
    return compare(where, getattr(rules, key.key), getattr(llm, key.key), key.agree)


def _cited(guidelines: list[Guideline], letter: LetterIndex) -> bool:
    """Every title and section is in the letter: a small model also cites guidelines a letter
    never names (a title alone is weak evidence: "Physical Medicine and Rehabilitation" is also
    a reviewer's specialty)."""
    return all(
        g.title is not None and all(letter.find(part).span is not None for part in [g.title, *g.sections])
        for g in guidelines
    )


def _merge_item(rules: Item, llm: Item, letter: LetterIndex) -> Item:
    update: dict[str, Any] = {}
    sides = (rules.claims_administrator_guidelines, rules.reviewer_guidelines)
    if not is_confident(rules.request, cited(sides)) and llm.category is not Category.OTHER:
        update["category"] = llm.category  # the drugs follow the category (a medication's only)
        update |= medication(rules.request, llm.category)._asdict()
    for name in ("claims_administrator_guidelines", "reviewer_guidelines"):
        offered = getattr(llm, name)
        if not getattr(rules, name) and offered and _cited(offered, letter):
            update[name] = offered
    return rules.model_copy(update=update)


def _doubted(check: Check, unread: dict[str, str]) -> bool:
    """Flag ``check`` for review, with the reason first, when the rules pass doubts its field."""
    reason = unread.get(check.field)
    if reason is None:
        return False
    check.review, check.note = True, "; ".join(filter(None, [reason, check.note]))
    return True


def _merge_section(
    section: str, ours: Any, theirs: Any, unread: dict[str, str], checks: list[Check], read: frozenset[str]
) -> Any:
    """A copy of the rules pass's ``section``; a value only the LLM found fills a field the rules
    could not read (flagged), and is kept out of one the rules read and found empty (flagged).
    A section the model was not asked about (``read``) is the rules pass's, unchecked."""
    merged = ours.model_copy()
    if section not in read:
        return merged
    for key in cross_checked(section):
        where = path(section, key.key)
        check = _check(key, where, ours, theirs)
        if _doubted(check, unread):
            if check.status == "llm_only":
                setattr(merged, key.key, getattr(theirs, key.key))
        elif check.status == "llm_only":
            check.note = KEPT_OUT
        checks.append(check)
    return merged


def merge(
    rules: RulesResult,
    llm: Determination,
    text: str,
    read: frozenset[str],
    positions: Sequence[int] | None = None,
) -> tuple[Determination, dict[str, list[Span]], list[Check]]:
    """The hybrid determination, its evidence and one check per key field the model was asked
    about (``read``: the sections it was asked for; the header is not asked when the rules read
    it; ``positions``: the item block each of the model's items answers, None for one per block)."""
    ours = rules.determination
    checks: list[Check] = []
    case = _merge_section("case", ours.case, llm.case, rules.unread, checks, read)
    reviewer = _merge_section("reviewer", ours.reviewer, llm.reviewer, rules.unread, checks, read)
    # the codes follow the merged diagnoses, whichever pass read them
    patient = coded(_merge_section("patient", ours.patient, llm.patient, rules.unread, checks, read))
    blocks = list(range(len(ours.items))) if positions is None else list(positions)
    if len(llm.items) != len(blocks) or not set(blocks) <= set(range(len(ours.items))):
        # both passes read the layout's item blocks
        raise ValueError(f"the passes read {len(ours.items)} and {len(llm.items)} item blocks")
    theirs_at = dict(zip(blocks, llm.items, strict=True))
    letter = LetterIndex(text)
    item_checks = [
        _check(key, path("items", index, key.key), ours.items[index], theirs)
        for index, theirs in sorted(theirs_at.items())
        for key in cross_checked("items")
    ]
    items = [
        _merge_item(mine, theirs_at[index], letter) if index in theirs_at else mine
        for index, mine in enumerate(ours.items)
    ]
    merged = Determination(case=case, reviewer=reviewer, patient=patient, items=items)
    grounded, unfound = ground(merged, letter)
    evidence = rules.evidence
    for field, spans in grounded.items():
        evidence.setdefault(field, spans)
    for check in item_checks:  # an item field the rules pass doubts is flagged, whatever the LLM says
        _doubted(check, rules.unread)
    checked = {check.field for check in checks + item_checks}
    doubted = [check for check in rules.checks if check.field not in checked]
    grounded_checks = [c for c in unfound if c.field not in evidence]
    return merged, evidence, checks + item_checks + doubted + grounded_checks
