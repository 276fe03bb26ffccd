"""The key fields: where each value sits in a record, and when two values of it are the same.

One table serves the cross-check (do the rules and LLM passes say the same thing?) and the
eval's scoring (is a prediction right against a hand label?), so every field is named and
compared in one place.  Each row has two comparators because the two questions differ: two
passes agree on a request worded a little differently (``agree``), while a label is strict
about what it states and silent about what it leaves out (``score``).

Field names are schema paths relative to the determination, list indices written ``[]``
(``items[].decision``); :func:`path` writes the concrete path a record's evidence and checks
use (``determination.items[2].decision``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from extractor.alignment import similarity
from extractor.schemas import BodyRegion, Guideline

ROOT = "determination"
ITEM_PREFIX = "items[]."
ITEMS = "items"
LABEL_SIMILARITY = 0.9
"""A predicted text matches its label from this normalised similarity up."""
PASSES_SIMILARITY = 0.85
"""The two passes name the same request from this similarity up (the LLM rewords a little)."""

Comparator = Callable[[Any, Any], bool]


def path(*parts: str | int) -> str:
    """The concrete path of a value in a record.

    ``path("case", "decision_date")`` is ``determination.case.decision_date``;
    ``path("items", 2, "decision")`` is ``determination.items[2].decision``.
    """
    return ROOT + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


_INDEX = re.compile(r"\[\d+\]")


def field_name(concrete: str) -> str:
    """The field a concrete path is a value of: ``determination.items[2].decision`` is
    ``items[].decision`` (the inverse of :func:`path`'s indices)."""
    return _INDEX.sub("[]", concrete.removeprefix(ROOT + "."))


# --------------------------------------------------------------------------- comparators

_SPACES = re.compile(r"\s+")


def exact(expected: Any, got: Any) -> bool:
    return bool(expected == got)


def same_list(expected: Sequence[Any], got: Sequence[Any]) -> bool:
    """Equal in order (licensure states are listed as written, a medication's drugs as requested)."""
    return list(expected) == list(got)


def normalise_name(text: str) -> str:
    """Case, runs of spaces and ``&``/``and`` do not matter: ``Physical Medicine & Rehab``."""
    return _SPACES.sub(" ", text.replace("&", " and ")).strip().casefold()


def same_name_set(expected: Sequence[str], got: Sequence[str]) -> bool:
    return {normalise_name(x) for x in expected} == {normalise_name(x) for x in got}


def similar(threshold: float) -> Comparator:
    """Both null, or normalised texts at least ``threshold`` similar."""

    def same(expected: str | None, got: str | None) -> bool:
        if expected is None or got is None:
            return expected is None and got is None
        return similarity(expected, got) >= threshold

    return same


fuzzy_equal = similar(LABEL_SIMILARITY)


def match_pairs(
    expected: Sequence[str], got: Sequence[str], threshold: float = LABEL_SIMILARITY
) -> list[tuple[int, int]]:
    """One-to-one fuzzy pairs (expected index, got index), best similarity first (diagnoses)."""
    scored = sorted(
        ((similarity(a, b), i, j) for i, a in enumerate(expected) for j, b in enumerate(got)),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    pairs: list[tuple[int, int]] = []
    used_left: set[int] = set()
    used_right: set[int] = set()
    for score, i, j in scored:
        if score < threshold:
            break
        if i not in used_left and j not in used_right:
            used_left.add(i)
            used_right.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def same_diagnoses(a: Sequence[str], b: Sequence[str]) -> bool:
    """The passes name the same diagnoses: every one paired one to one (fuzzy), none left over."""
    return len(a) == len(b) and len(match_pairs(a, b, PASSES_SIMILARITY)) == len(a)


def same_regions(a: Sequence[BodyRegion], b: Sequence[BodyRegion]) -> bool:
    """The same regions with the same sides, in any order."""
    return {(r.region, r.side) for r in a} == {(r.region, r.side) for r in b}


def regions_within(rules: Sequence[BodyRegion], llm: Sequence[BodyRegion]) -> bool:
    """The LLM pass's patient regions (those its diagnoses name) are among the rules pass's,
    which add those the summary's injuries and complaints name: each on the same side, or on
    either where the rules read both (``bilateral``), or with no side written."""
    sides = {r.region: r.side for r in rules}
    return all(
        r.region in sides and (r.side in (None, sides[r.region]) or sides[r.region] == "bilateral")
        for r in llm
    )


def labelled_keys(label: BaseModel) -> list[str]:
    """The keys a label sets, in schema order (a key left out of the JSON is not labelled)."""
    return [key for key in type(label).model_fields if key in label.model_fields_set]


def guideline_difference(expected: Sequence[Guideline], got: Sequence[Guideline]) -> str | None:
    """Why two guideline lists differ (None when they agree on every labelled key).

    The lists of ``(source, pages)`` must be equal, titles fuzzy-equal pairwise and sections
    equal as sets; a key left out of a label's guideline is not compared.
    """
    if len(expected) != len(got):
        return f"{len(got)} citations, label has {len(expected)}"
    for label, predicted in zip(expected, got, strict=True):
        labelled = set(labelled_keys(label))
        if "source" in labelled and label.source != predicted.source:
            return "sources differ"
        if "pages" in labelled and label.pages != predicted.pages:
            return "pages differ"
    for label, predicted in zip(expected, got, strict=True):
        labelled = set(labelled_keys(label))
        if "title" in labelled and not fuzzy_equal(label.title, predicted.title):
            return "titles differ"
        if "sections" in labelled and not same_name_set(label.sections, predicted.sections):
            return "sections differ"
    return None


def same_guidelines(expected: Sequence[Guideline], got: Sequence[Guideline]) -> bool:
    return guideline_difference(expected, got) is None


def source_pages(guideline: Guideline) -> tuple[str | None, tuple[int, ...]]:
    """What a citation is counted by: which body of guidance, which pages (titles are worded freely)."""
    return (guideline.source.value if guideline.source else None, tuple(guideline.pages))


def _sources_pages(guidelines: Sequence[Guideline]) -> list[tuple[str | None, tuple[int, ...]]]:
    return sorted(map(source_pages, guidelines), key=repr)


def same_sources_pages(a: Sequence[Guideline], b: Sequence[Guideline]) -> bool:
    """The same citations by source and pages, in any order (the passes word titles differently)."""
    return _sources_pages(a) == _sources_pages(b)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class KeyField:
    """One field: how a prediction is scored, and how the two passes are compared (if they are)."""

    name: str
    score: Comparator = exact
    agree: Comparator | None = None

    @property
    def section(self) -> str:
        """``case``, ``reviewer``, ``patient``, ``items`` (an item's field), or ``""`` (the item list)."""
        return self.name.split(".", 1)[0].removesuffix("[]") if "." in self.name else ""

    @property
    def key(self) -> str:
        """The attribute in its section's model (``decision`` for ``items[].decision``)."""
        return self.name.rsplit(".", 1)[-1]


_CASE = ("case_number", "date_assigned", "decision_date", "date_of_injury", "ur_denial_date",
         "application_received", "priority")  # fmt: skip

KEY_FIELDS: tuple[KeyField, ...] = (
    *(KeyField(f"case.{name}", agree=exact) for name in _CASE),
    KeyField("reviewer.licensure_states", same_list, same_list),
    KeyField("reviewer.specialties", same_name_set, same_name_set),
    KeyField("reviewer.subspecialties", same_name_set, same_name_set),
    KeyField("patient.age", agree=exact),
    KeyField("patient.sex", agree=exact),
    KeyField("patient.diagnoses", agree=same_diagnoses),  # scored one unit per diagnosis (evals.scoring)
    KeyField("patient.mechanism_of_injury", fuzzy_equal, similar(PASSES_SIMILARITY)),
    KeyField("patient.body_regions", same_regions, regions_within),
    # one unit per labelled code, through the diagnosis it codes (evals.scoring); not
    # cross-checked: both passes code their diagnoses with one coder (extractor.icd)
    KeyField("patient.diagnosis_codes"),
    KeyField(ITEMS, agree=exact),  # the passes compare how many items they read
    KeyField(f"{ITEM_PREFIX}request", fuzzy_equal, similar(PASSES_SIMILARITY)),
    KeyField(f"{ITEM_PREFIX}original_request", fuzzy_equal),
    KeyField(f"{ITEM_PREFIX}decision", agree=exact),
    KeyField(f"{ITEM_PREFIX}category", agree=exact),
    KeyField(f"{ITEM_PREFIX}body_regions", same_regions, same_regions),
    KeyField(f"{ITEM_PREFIX}authorized", fuzzy_equal, similar(PASSES_SIMILARITY)),
    # read by the rules pass only (the LLM is not asked): scored, not cross-checked
    KeyField(f"{ITEM_PREFIX}depends_on"),
    KeyField(f"{ITEM_PREFIX}date_of_service"),
    # both passes read these from the request through one vocabulary (extractor.drugs), so the
    # request's check covers them; drugs are scored as an ordered list (the order requested)
    KeyField(f"{ITEM_PREFIX}drugs", same_list),
    KeyField(f"{ITEM_PREFIX}drug_class"),
    KeyField(f"{ITEM_PREFIX}claims_administrator_guidelines", same_guidelines, same_sources_pages),
    KeyField(f"{ITEM_PREFIX}reviewer_guidelines", same_guidelines, same_sources_pages),
    KeyField(f"{ITEM_PREFIX}rationale", fuzzy_equal),
)
"""Every field whose comparison is not plain equality, and every field the passes compare."""

BY_NAME = {field.name: field for field in KEY_FIELDS}


def scorer(name: str) -> Comparator:
    """How a prediction of field ``name`` is compared with its label (exact unless the table says)."""
    field = BY_NAME.get(name)
    return field.score if field is not None else exact


def cross_checked(section: str) -> list[KeyField]:
    """The fields of ``section`` the two passes are compared on, in table order."""
    return [field for field in KEY_FIELDS if field.agree is not None and field.section == section]


DERIVED = frozenset({"patient.diagnosis_codes"})
"""Fields coded from another value (a diagnosis's ICD-10-CM code): each carries how it was found
and its score (``patient.diagnosis_coding``) and is scored apart; ``confidence`` does not cover
them yet."""


def value_paths(determination: Any) -> list[str]:
    """The concrete path of every key field's value in ``determination``, nulls and empty lists
    too (a missing value is a value that can be wrong): what a record's ``confidence`` covers."""
    read = [field for field in KEY_FIELDS if field.name not in DERIVED]
    paths = [
        path(*field.name.split(".")) for field in read if field.section in ("case", "reviewer", "patient")
    ]
    for index in range(len(determination.items)):
        paths += [path(ITEMS, index, field.key) for field in read if field.section == ITEMS]
    return paths
