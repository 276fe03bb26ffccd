"""Score a predicted determination against a hand label, field by field (pure functions).

Only the keys a label contains are scored: a key left out of the label JSON is "not labelled"
(pydantic's ``model_fields_set``, recursively), while ``null`` is a real label ("the letter
does not say").  Field names are schema paths relative to the determination with list
indices replaced by ``[]`` (``items[].decision``).

Comparators (the table of extractor.fields, which the cross-check shares):

- exact: dates, integers, enums, ``priority``, ``case_number``, ``sex``;
- ordered list equality: ``reviewer.licensure_states``;
- case/space/``&``-insensitive sets: ``reviewer.specialties``, ``reviewer.subspecialties``;
- normalised fuzzy text (``extractor.alignment.similarity >= 0.9``): ``request``,
  ``original_request``, ``mechanism_of_injury`` (and ``rationale`` should a label ever have one);
- ``patient.diagnoses``: one unit per labelled diagnosis, fuzzy-matched one to one, with recall
  (matched / labelled) and precision (matched / predicted);
- ``patient.diagnosis_codes``: one unit per labelled code, right when the diagnosis matched to
  its diagnosis has the same code (null for null); :data:`CATEGORY` counts the same units on the
  three-character category alone. Both are reported apart and never in the overall: a code is
  derived from a diagnosis already scored, and has its own target (:data:`APART`);
- guidelines, per item: the lists of ``(source, pages)`` equal, titles fuzzy, sections as sets.
  Beside that whole-list score, each labelled citation is a unit of its own, matched one to one
  on source and pages (:func:`citation_count`), and each labelled chapter is one on source and
  chapter (:func:`chapter_count`): both reported apart, never in the overall.

Items are aligned on ``request`` with :func:`extractor.alignment.align`, so one missed or
invented item does not shift every later one.  A missed item counts every labelled field of
it as wrong (recall drops); an invented item counts against precision only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from extractor.alignment import align
from extractor.chapters import CHAPTERED
from extractor.fields import (
    DERIVED,
    ITEM_PREFIX,
    ITEMS,
    SECTIONS,
    FieldPath,
    field_name,
    guideline_difference,
    json_value,
    labelled_keys,
    match_pairs,
    name_of,
    schema_names,
    scorer,
    source_pages,
)
from extractor.icd import category
from extractor.schemas import Check, Determination, Fixture, Guideline, Item, Patient

MissKind = Literal["wrong", "missed", "invented", "error"]

CODES = "patient.diagnosis_codes"
CATEGORY = "patient.diagnosis_codes (category)"
"""The codes scored on their ICD-10-CM category (``S40`` of ``S40.011``): what the issue's
target counts, beside the full code."""
GUIDELINE_FIELDS = tuple(
    name_of(ITEMS, side) for side in ("claims_administrator_guidelines", "reviewer_guidelines")
)
CHAPTERS = tuple(f"{name} (chapter)" for name in GUIDELINE_FIELDS)
"""Each labelled citation's chapter, one unit each (:func:`chapter_count`), beside its list's score."""
APART = (CODES, CATEGORY, *CHAPTERS)
"""Fields reported beside the overall, not in it."""


# --------------------------------------------------------------------------- counts


@dataclass
class FieldCount:
    """Right out of labelled (``total``); ``predicted`` is set for list fields (items, diagnoses)."""

    right: int = 0
    total: int = 0
    predicted: int | None = None

    @property
    def accuracy(self) -> float | None:
        return self.right / self.total if self.total else None

    @property
    def recall(self) -> float | None:
        return self.accuracy

    @property
    def precision(self) -> float | None:
        if self.predicted is None:
            return None
        return self.right / self.predicted if self.predicted else None

    def add(self, other: FieldCount) -> None:
        self.right += other.right
        self.total += other.total
        if other.predicted is not None:
            self.predicted = (self.predicted or 0) + other.predicted

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"right": self.right, "total": self.total, "accuracy": self.accuracy}
        if self.predicted is not None:
            out |= {"predicted": self.predicted, "recall": self.recall, "precision": self.precision}
        return out


@dataclass(frozen=True)
class Miss:
    """One scored unit that was not right: ``where`` is the concrete path (``items[2].decision``)."""

    field: str
    where: str
    expected: Any
    got: Any
    kind: MissKind = "wrong"

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "where": self.where,
            "kind": self.kind,
            "expected": self.expected,
            "got": self.got,
        }


@dataclass(frozen=True)
class Judged:
    """One value of a record against its label: the flag and confidence the record gave it, and
    whether it was right (what the trust figures count)."""

    field: str
    where: str
    confidence: float
    flagged: bool
    right: bool
    status: str | None = None
    """The cross-check's status of the value, where the passes were compared on it."""


@dataclass
class LetterScore:
    """Every scored field of one letter, and what was missed."""

    fixture_id: str
    fields: dict[str, FieldCount] = field(default_factory=dict)
    misses: list[Miss] = field(default_factory=list)
    error: str | None = None
    categories: list[tuple[str, str]] = field(default_factory=list)
    """(labelled, predicted) category of each aligned item whose category is labelled."""
    citations: dict[str, FieldCount] = field(default_factory=dict)
    """Per guideline field, its citations matched on source and pages (outside ``fields``)."""
    values: list[Judged] = field(default_factory=list)
    """Each labelled value of the record, with its confidence and flag (the trust figures)."""
    needs_review: bool = False

    @property
    def right(self) -> int:
        return sum(count.right for count in self.fields.values())

    @property
    def total(self) -> int:
        return sum(count.total for count in self.fields.values())

    @property
    def wrong(self) -> int:
        return self.total - self.right


def aggregate(per_letter: Iterable[Mapping[str, FieldCount]]) -> dict[str, FieldCount]:
    """Per-field sums of each letter's counts (its ``fields`` or its ``citations``), in
    :func:`field_order`."""
    totals: dict[str, FieldCount] = {}
    for counts in per_letter:
        for name, count in counts.items():
            totals.setdefault(name, FieldCount()).add(count)
    order = {name: index for index, name in enumerate(field_order())}
    return dict(sorted(totals.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def overall(fields: Mapping[str, FieldCount]) -> FieldCount:
    """The micro average over scored fields: all rights over all labelled units (the fields
    reported :data:`APART` aside)."""
    counted = [count for name, count in fields.items() if name not in APART]
    return FieldCount(right=sum(c.right for c in counted), total=sum(c.total for c in counted))


def field_order() -> list[str]:
    """Every scorable field name in schema order (the row order of reports)."""
    names = schema_names()
    names.insert(names.index(CODES) + 1, CATEGORY)
    for cited, chapters in zip(GUIDELINE_FIELDS, CHAPTERS, strict=True):
        names.insert(names.index(cited) + 1, chapters)
    return names


def is_list_field(name: str) -> bool:
    """Fields reported with recall and precision (item fields, items, diagnoses)."""
    return name == ITEMS or name.startswith(ITEM_PREFIX) or name == "patient.diagnoses"


# --------------------------------------------------------------------------- scoring


def _coded(label: Patient, got: Patient) -> dict[int, str | None]:
    """Labelled diagnosis index -> the code given to the diagnosis matched to it."""
    pairs = match_pairs(label.diagnoses, got.diagnoses)
    return {i: got.diagnosis_codes[j] for i, j in pairs if j < len(got.diagnosis_codes)}


def _same_category(expected: str | None, got: str | None) -> bool:
    if expected is None or got is None:
        return expected is got
    return category(expected) == category(got)


def code_outcomes(label: Patient, got: Patient | None) -> list[tuple[bool, bool]]:
    """(full code right, category right) for each labelled code; a diagnosis not matched (or no
    record) has both wrong."""
    coded = _coded(label, got) if got is not None else {}
    return [
        (i in coded and coded[i] == code, i in coded and _same_category(code, coded[i]))
        for i, code in enumerate(label.diagnosis_codes)
    ]


def citation_count(expected: Sequence[Guideline], got: Sequence[Guideline]) -> FieldCount:
    """Labelled citations matched one to one on (source, pages), in any order: recall over the
    label's citations, precision over the predicted ones."""
    matched = Counter(map(source_pages, expected)) & Counter(map(source_pages, got))
    return FieldCount(right=sum(matched.values()), total=len(expected), predicted=len(got))


def chapter_count(expected: Sequence[Guideline], got: Sequence[Guideline]) -> FieldCount:
    """Labelled chapters of MTUS, ACOEM and ODG citations (the sources the vocabulary covers)
    matched one to one on (source, chapter), in any order: a citation's chapter is right when
    the prediction cites that chapter of that source, however it paged it."""
    labelled = [g for g in expected if "chapter" in g.model_fields_set and g.source in CHAPTERED]
    predicted = [g for g in got if g.source in CHAPTERED]

    def keys(guidelines: Sequence[Guideline]) -> Counter[tuple[str | None, str | None]]:
        return Counter((g.source.value if g.source else None, g.chapter) for g in guidelines)

    matched = keys(labelled) & keys(predicted)
    return FieldCount(right=sum(matched.values()), total=len(labelled), predicted=len(predicted))


def _json(value: Any) -> Any:
    """A JSON-able form of a value for reports (labels keep only their labelled keys)."""
    return json_value(value, unset=False)


def _guidelines_json(expected: Sequence[Guideline], got: Sequence[Guideline]) -> tuple[Any, Any]:
    return _json(expected), json_value(got)


class _Scorer:
    def __init__(self, skip: Collection[str]) -> None:
        self.skip = set(skip)
        self.fields: dict[str, FieldCount] = {}
        self.citations: dict[str, FieldCount] = {}
        self.misses: list[Miss] = []

    def count(self, name: str, *, right: int, total: int, predicted: int | None = None) -> None:
        self.fields.setdefault(name, FieldCount()).add(FieldCount(right, total, predicted))

    def section(self, section: str, label: BaseModel, got: BaseModel | None) -> None:
        for key in labelled_keys(label):
            name = name_of(section, key)
            if name in self.skip:
                continue
            expected = getattr(label, key)
            value = getattr(got, key) if got is not None else None
            if name == "patient.diagnoses":
                self.diagnoses(expected, value or [])
                continue
            if name == CODES and isinstance(label, Patient):
                self.codes(label, got if isinstance(got, Patient) else None)
                continue
            ok = got is not None and scorer(name)(expected, value)
            self.count(name, right=int(ok), total=1)
            if got is not None and not ok:
                self.misses.append(Miss(name, name, _json(expected), _json(value)))

    def diagnoses(self, expected: list[str], got: list[str]) -> None:
        """One unit per labelled diagnosis; the miss lists only the unmatched ones on each side."""
        pairs = match_pairs(expected, got)
        self.count("patient.diagnoses", right=len(pairs), total=len(expected), predicted=len(got))
        missed = [d for i, d in enumerate(expected) if i not in {a for a, _ in pairs}]
        invented = [d for j, d in enumerate(got) if j not in {b for _, b in pairs}]
        if missed or invented:
            self.misses.append(Miss("patient.diagnoses", "patient.diagnoses (unmatched)", missed, invented))

    def codes(self, label: Patient, got: Patient | None) -> None:
        """One unit per labelled code, on the full code and (apart) on its category."""
        outcomes = code_outcomes(label, got)
        self.count(CODES, right=sum(full for full, _ in outcomes), total=len(outcomes))
        self.count(CATEGORY, right=sum(category for _, category in outcomes), total=len(outcomes))
        wrong = [i for i, (full, _) in enumerate(outcomes) if not full]
        if got is not None and wrong:
            expected = [label.diagnosis_codes[i] for i in wrong]
            found = [_coded(label, got).get(i) for i in wrong]
            self.misses.append(Miss(CODES, f"{CODES} (of {len(outcomes)})", expected, found))

    def items(self, labels: list[Item], got: list[Item] | None) -> None:
        if ITEMS in self.skip:
            return
        predicted = got or []
        pairs = align([item.request for item in labels], [item.request for item in predicted])
        matched = [(i, j) for i, j in pairs if i is not None and j is not None]
        self.count(ITEMS, right=len(matched), total=len(labels), predicted=len(predicted))
        invented = [j for i, j in pairs if i is None and j is not None]
        for i, j in pairs:
            if i is not None:
                self.item(i, labels[i], predicted[j] if j is not None else None, report=got is not None)
        for j in invented:
            where = FieldPath.of(ITEMS, j).relative
            self.misses.append(Miss(ITEMS, f"predicted {where}", None, predicted[j].request, kind="invented"))
        # an invented item is one more prediction for every item field (precision drops)
        for key in Item.model_fields:
            name = name_of(ITEMS, key)
            if invented and name in self.fields:
                self.count(name, right=0, total=0, predicted=len(invented))

    def item(self, index: int, label: Item, got: Item | None, *, report: bool) -> None:
        if got is None and report:
            self.misses.append(
                Miss(ITEMS, FieldPath.of(ITEMS, index).relative, label.request, None, kind="missed")
            )
        for key in labelled_keys(label):
            name = name_of(ITEMS, key)
            if name in self.skip:
                continue
            if key.endswith("_guidelines"):
                cited = getattr(got, key) if got is not None else []
                self.citations.setdefault(name, FieldCount()).add(citation_count(getattr(label, key), cited))
                chapters = chapter_count(getattr(label, key), cited)
                if chapters.total:
                    self.fields.setdefault(f"{name} (chapter)", FieldCount()).add(chapters)
            if got is None:
                self.count(name, right=0, total=1, predicted=0)
                continue
            expected, value = getattr(label, key), getattr(got, key)
            ok = scorer(name)(expected, value)
            self.count(name, right=int(ok), total=1, predicted=1)
            if ok:
                continue
            where = FieldPath.of(ITEMS, index, key).relative
            if key.endswith("_guidelines"):
                reason = guideline_difference(expected, value)
                wanted, found = _guidelines_json(expected, value)
                self.misses.append(Miss(name, f"{where} ({reason})", wanted, found))
            else:
                self.misses.append(Miss(name, where, _json(expected), _json(value)))


def score_determination(
    label: Determination, predicted: Determination | None, skip: Collection[str] = ()
) -> tuple[dict[str, FieldCount], list[Miss], dict[str, FieldCount]]:
    """Per-field counts, misses and citation units of one letter; ``predicted=None`` (no record)
    misses everything.

    ``skip`` names fields not to score at all (e.g. what a backend does not extract).
    """
    scorer = _Scorer(skip)
    labelled = label.model_fields_set
    for section in SECTIONS:
        if section in labelled:
            scorer.section(section, getattr(label, section), getattr(predicted, section, None))
    if ITEMS in labelled:
        scorer.items(label.items, predicted.items if predicted is not None else None)
    order = {name: index for index, name in enumerate(field_order())}
    fields = dict(sorted(scorer.fields.items(), key=lambda kv: order.get(kv[0], len(order))))
    return fields, scorer.misses, scorer.citations


def score_fixture(
    fixture: Fixture,
    predicted: Determination | None,
    *,
    skip: Collection[str] = (),
    error: str | None = None,
) -> LetterScore:
    """Score one letter; pass ``predicted=None`` and the ``error`` line when extraction failed."""
    fields, misses, citations = score_determination(fixture.determination, predicted, skip)
    if predicted is None:
        misses = [Miss("document", "document", fixture.document.path, error or "no record", kind="error")]
    categories = category_pairs(fixture.determination, predicted)
    return LetterScore(
        fixture.document.id,
        fields,
        misses,
        error=error if predicted is None else None,
        categories=categories,
        citations=citations,
    )


def category_pairs(label: Determination, predicted: Determination | None) -> list[tuple[str, str]]:
    """The cells of a category confusion table: (labelled, predicted) for each item aligned as
    the scorer aligns them, whose category the label states."""
    if predicted is None or ITEMS not in label.model_fields_set:
        return []
    pairs = align([item.request for item in label.items], [item.request for item in predicted.items])
    return [
        (label.items[i].category.value, predicted.items[j].category.value)
        for i, j in pairs
        if i is not None and j is not None and "category" in label.items[i].model_fields_set
    ]


# --------------------------------------------------------------------------- values


def value_outcomes(label: Determination, predicted: Determination) -> dict[str, bool]:
    """Whether each labelled value of ``predicted`` is right, by its concrete path in the record
    (``determination.items[3].category``, the predicted item's index). A diagnosis list is one
    value, right when every labelled diagnosis is matched and none is left over; a value the
    record does not hold (a missed item) has no path and is not here."""
    outcomes: dict[str, bool] = {}
    labelled = label.model_fields_set
    for section in SECTIONS:
        if section not in labelled:
            continue
        expected, got = getattr(label, section), getattr(predicted, section)
        for key in labelled_keys(expected):
            name = name_of(section, key)
            if name in DERIVED:
                continue
            want, have = getattr(expected, key), getattr(got, key)
            if name == "patient.diagnoses":
                right = len(want) == len(have) == len(match_pairs(want, have))
            elif name == CODES:
                right = all(full for full, _ in code_outcomes(label.patient, predicted.patient))
            else:
                right = scorer(name)(want, have)
            outcomes[str(FieldPath.of(section, key))] = right
    if ITEMS in labelled:
        pairs = align([item.request for item in label.items], [item.request for item in predicted.items])
        for i, j in pairs:
            if i is None or j is None:
                continue
            for key in labelled_keys(label.items[i]):
                right = scorer(name_of(ITEMS, key))(
                    getattr(label.items[i], key), getattr(predicted.items[j], key)
                )
                outcomes[str(FieldPath.of(ITEMS, j, key))] = right
    return outcomes


def judge(
    label: Determination, predicted: Determination, confidence: Mapping[str, float], checks: Sequence[Check]
) -> list[Judged]:
    """Every labelled value of a record, judged, with the flag and status its checks give it."""
    flagged = {check.field for check in checks if check.review}
    status = {check.field: check.status for check in checks}
    return [
        Judged(
            field=field_name(where),
            where=where,
            confidence=confidence.get(where, 1.0),
            flagged=where in flagged,
            right=right,
            status=status.get(where),
        )
        for where, right in value_outcomes(label, predicted).items()
    ]
