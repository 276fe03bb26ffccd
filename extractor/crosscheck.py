"""Hybrid = rules + LLM: compare every key field, merge, and never hide a disagreement.

Merge policy: a value the rules pass found with evidence wins; the LLM fills what the rules
left empty (diagnoses, mechanism of injury, categories the classifier could not decide, and
guidelines the rules could not read when their titles are in the letter); an item only the LLM
reports is a flagged check, not an item, since the rules pass reads every decision line the
letter has; every comparison is a ``Check`` and every disagreement is flagged for review, never
silently resolved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from extractor.alignment import align, similarity
from extractor.grounding import LetterIndex, ground
from extractor.rules import RulesResult
from extractor.rules.categories import is_confident
from schemas import Category, Check, CheckStatus, Determination, Guideline, Item

Span = tuple[int, int]
REQUEST_AGREEMENT = 0.85
UNCONFIRMED = "only the LLM reported it: not confirmed by the rules pass"

_CASE_FIELDS = (
    "case_number",
    "date_assigned",
    "decision_date",
    "date_of_injury",
    "ur_denial_date",
    "application_received",
    "priority",
)


def _folded(values: list[str]) -> list[str]:
    return sorted(" ".join(value.lower().replace("&", "and").split()) for value in values)


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


def compare(field: str, rules: Any, llm: Any, same: Callable[[Any, Any], bool] | None = None) -> Check:
    """One key field: empty on a side makes it one-sided, else agree or disagree."""
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
        # A key field only the model reported has no evidence from the rules: a person confirms it.
        return Check(field=field, llm=_json(llm), status=status, review=True, note=UNCONFIRMED)
    return Check(field=field, rules=_json(rules), llm=_json(llm), status=status)


def _sources_pages(guidelines: list[Guideline]) -> list[tuple[str | None, tuple[int, ...]]]:
    return [(g.source.value if g.source else None, tuple(g.pages)) for g in guidelines]


def _same_guidelines(a: list[Guideline], b: list[Guideline]) -> bool:
    return sorted(_sources_pages(a), key=repr) == sorted(_sources_pages(b), key=repr)


def _item_checks(path: str, rules: Item, llm: Item) -> list[Check]:
    return [
        compare(f"{path}.request", rules.request, llm.request,
                lambda a, b: similarity(a, b) >= REQUEST_AGREEMENT),
        compare(f"{path}.decision", rules.decision, llm.decision),
        compare(f"{path}.category", rules.category, llm.category),
        compare(f"{path}.claims_administrator_guidelines", rules.claims_administrator_guidelines,
                llm.claims_administrator_guidelines, _same_guidelines),
        compare(f"{path}.reviewer_guidelines", rules.reviewer_guidelines, llm.reviewer_guidelines,
                _same_guidelines),
    ]  # fmt: skip


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
    if not is_confident(rules.request) and llm.category is not Category.OTHER:
        update["category"] = llm.category
    for name in ("claims_administrator_guidelines", "reviewer_guidelines"):
        offered = getattr(llm, name)
        if not getattr(rules, name) and offered and _cited(offered, letter):
            update[name] = offered
    return rules.model_copy(update=update)


def merge(
    rules: RulesResult, llm: Determination, text: str
) -> tuple[Determination, dict[str, list[Span]], list[Check]]:
    """The hybrid determination, its evidence and one check per key field."""
    ours = rules.determination
    checks: list[Check] = []
    case = ours.case.model_copy()
    for name in _CASE_FIELDS:
        check = compare(f"determination.case.{name}", getattr(ours.case, name), getattr(llm.case, name))
        checks.append(check)
        if check.status == "llm_only":
            setattr(case, name, getattr(llm.case, name))
    reviewer = ours.reviewer.model_copy()
    for name in ("licensure_states", "specialties", "subspecialties"):
        same = None if name == "licensure_states" else (lambda a, b: _folded(a) == _folded(b))
        check = compare(f"determination.reviewer.{name}", getattr(ours.reviewer, name),
                        getattr(llm.reviewer, name), same)  # fmt: skip
        checks.append(check)
        if check.status == "llm_only":
            setattr(reviewer, name, getattr(llm.reviewer, name))
    patient = ours.patient.model_copy(
        update={"diagnoses": llm.patient.diagnoses, "mechanism_of_injury": llm.patient.mechanism_of_injury}
    )
    for name in ("age", "sex"):
        check = compare(
            f"determination.patient.{name}", getattr(ours.patient, name), getattr(llm.patient, name)
        )
        checks.append(check)
        if check.status == "llm_only":
            setattr(patient, name, getattr(llm.patient, name))
    checks.append(compare("determination.items.count", len(ours.items), len(llm.items)))

    items: list[Item] = []
    item_checks: list[Check] = []
    positions: dict[int, int] = {}
    letter = LetterIndex(text)
    pairs = align([i.request for i in ours.items], [i.request for i in llm.items])
    for left, right in pairs:
        path = f"determination.items[{len(items)}]"
        if left is not None:
            positions[left] = len(items)
        if left is not None and right is not None:
            item_checks.extend(_item_checks(path, ours.items[left], llm.items[right]))
            items.append(_merge_item(ours.items[left], llm.items[right], letter))
        elif left is not None:
            item_checks.append(Check(field=path, rules=ours.items[left].request, status="rules_only",
                                     review=True, note="item the LLM did not report"))  # fmt: skip
            items.append(ours.items[left])
        elif right is not None:
            # Not added: every decision line the letter has is already an item of the rules pass.
            item_checks.append(Check(field="determination.items", llm=llm.items[right].request,
                                     status="llm_only", review=True,
                                     note="item only the LLM reported (not added to items)"))  # fmt: skip
    merged = Determination(case=case, reviewer=reviewer, patient=patient, items=items)
    grounded, unfound = ground(merged, letter)
    evidence = _merged_evidence(rules.evidence, positions, grounded)
    grounded_checks = [c for c in unfound if c.field not in evidence]
    return merged, evidence, checks + item_checks + grounded_checks


_ITEM_FIELD = re.compile(r"^determination\.items\[(\d+)\]")


def _merged_evidence(
    rules_evidence: dict[str, list[Span]], positions: dict[int, int], grounded: dict[str, list[Span]]
) -> dict[str, list[Span]]:
    """Rules evidence moved to the merged item positions, plus grounding for LLM values."""
    evidence: dict[str, list[Span]] = {}
    for field, spans in rules_evidence.items():
        item = _ITEM_FIELD.match(field)
        if item is None:
            evidence[field] = spans
        elif int(item.group(1)) in positions:
            evidence[f"determination.items[{positions[int(item.group(1))]}]{field[item.end() :]}"] = spans
    for field, spans in grounded.items():
        evidence.setdefault(field, spans)
    return evidence
