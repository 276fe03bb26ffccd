"""Hybrid = rules + LLM: compare every key field, merge, and never hide a disagreement.

Merge policy, field by field as extractor.fields states it (``KeyField.fill``): a value the
rules pass found with evidence wins. Where the rules pass read a field and found it empty (the
letter states none), a value only the LLM reports is a flagged check, not part of the record, so
hybrid is never below rules on a field the rules read. The LLM fills only what the rules could
not read (a field the rules pass marks "not read", categories the classifier could not decide,
and guidelines the rules could not read when their titles are in the letter).  Items pair by
position: both passes read the same item blocks of the letter's layout, one item per block.
Every comparison is a ``Check`` and every disagreement is flagged for review, never silently
resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from extractor.drugs import medication
from extractor.fields import ITEMS, SECTIONS, Comparator, FieldPath, KeyField, cross_checked, json_value
from extractor.grounding import LetterIndex, ground
from extractor.icd import coded
from extractor.rules import RulesResult
from extractor.rules.categories import cited, is_confident
from extractor.schemas import Category, Check, CheckStatus, Determination, Guideline, Item, Span

UNCONFIRMED = "only the LLM reported it: not confirmed by the rules pass"
KEPT_OUT = "only the LLM reported it; the rules pass read the field and found no value: not in the record"


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
        return Check(field=field, llm=json_value(llm), status=status, review=True, note=UNCONFIRMED)
    return Check(
        field=field, rules=json_value(rules), llm=json_value(llm), status=status, review=status == "disagree"
    )


def _check(key: KeyField, where: FieldPath, rules: Any, llm: Any) -> Check:
    return compare(str(where), getattr(rules, key.key), getattr(llm, key.key), key.agree)


def _cited(guidelines: list[Guideline], letter: LetterIndex) -> bool:
    """Every title and section is in the letter: a small model also cites guidelines a letter
    never names (a title alone is weak evidence: "Physical Medicine and Rehabilitation" is also
    a reviewer's specialty)."""
    return all(
        g.title is not None and all(letter.find(part).span is not None for part in [g.title, *g.sections])
        for g in guidelines
    )


def _fills(
    key: KeyField, check: Check, rules: Any, llm: Any, unread: dict[str, str], letter: LetterIndex
) -> bool:
    """Whether the LLM's value of ``key`` is the record's, as ``key.fill`` says (``rules`` and
    ``llm``: the section or item each pass read)."""
    offered = getattr(llm, key.key)
    if key.fill == "unread":
        return check.status == "llm_only" and check.field in unread
    if key.fill == "undecided":
        sides = (rules.claims_administrator_guidelines, rules.reviewer_guidelines)
        return offered is not Category.OTHER and not is_confident(rules.request, cited(sides))
    if key.fill == "cited":
        return check.status == "llm_only" and _cited(offered, letter)
    return False


def _merged(
    rules: Any, llm: Any, checks: list[tuple[KeyField, Check]], unread: dict[str, str], letter: LetterIndex
) -> Any:
    """A copy of the rules pass's section or item with the LLM's values where the policy lets them in."""
    update = {
        key.key: getattr(llm, key.key)
        for key, check in checks
        if _fills(key, check, rules, llm, unread, letter)
    }
    if "category" in update:  # the drugs follow the category (a medication's only)
        update |= medication(rules.request, update["category"])._asdict()
    return rules.model_copy(update=update)


def _doubted(check: Check, unread: dict[str, str]) -> bool:
    """Flag ``check`` for review, with the reason first, when the rules pass doubts its field."""
    reason = unread.get(check.field)
    if reason is None:
        return False
    check.review, check.note = True, "; ".join(filter(None, [reason, check.note]))
    return True


def _merge_item(
    index: int, rules: Item, llm: Item, unread: dict[str, str], letter: LetterIndex
) -> tuple[Item, list[Check]]:
    """The merged item at ``index`` and its checks (a field the rules pass doubts is flagged,
    whatever the LLM says)."""
    contested = [(key, _check(key, key.at(index), rules, llm)) for key in cross_checked(ITEMS)]
    for _, check in contested:
        _doubted(check, unread)
    return _merged(rules, llm, contested, unread, letter), [check for _, check in contested]


def _section_checks(
    section: str, ours: Any, theirs: Any, unread: dict[str, str]
) -> list[tuple[KeyField, Check]]:
    """One check per cross-checked field of ``section``: a field the rules doubt is flagged with
    why; a value only the LLM found for a field the rules read and found empty says it is kept out."""
    checks = []
    for key in cross_checked(section):
        check = _check(key, key.at(), ours, theirs)
        if not _doubted(check, unread) and check.status == "llm_only":
            check.note = KEPT_OUT
        checks.append((key, check))
    return checks


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
    ours, unread = rules.determination, rules.unread
    letter = LetterIndex(text)
    sections: dict[str, Any] = {}
    checks: list[Check] = []
    for section in SECTIONS:  # a section the model was not asked about is the rules pass's, unchecked
        mine, theirs = getattr(ours, section), getattr(llm, section)
        contested = _section_checks(section, mine, theirs, unread) if section in read else []
        sections[section] = _merged(mine, theirs, contested, unread, letter)
        checks += [check for _, check in contested]
    blocks = list(range(len(ours.items))) if positions is None else list(positions)
    if len(llm.items) != len(blocks) or not set(blocks) <= set(range(len(ours.items))):
        # both passes read the layout's item blocks
        raise ValueError(f"the passes read {len(ours.items)} and {len(llm.items)} item blocks")
    theirs_at = dict(zip(blocks, llm.items, strict=True))
    items = list(ours.items)
    for index, theirs in sorted(theirs_at.items()):
        items[index], contested_item = _merge_item(index, ours.items[index], theirs, unread, letter)
        checks += contested_item
    # the codes follow the merged diagnoses, whichever pass read them
    merged = Determination(**sections | {"patient": coded(sections["patient"]), ITEMS: items})
    grounded, unfound = ground(merged, letter)
    evidence = rules.evidence
    for field, spans in grounded.items():
        evidence.setdefault(field, spans)
    checked = {check.field for check in checks}
    doubted = [check for check in rules.checks if check.field not in checked]
    grounded_checks = [c for c in unfound if c.field not in evidence]
    return merged, evidence, checks + doubted + grounded_checks
