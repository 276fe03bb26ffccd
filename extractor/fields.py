"""The key fields: where each value sits in a record, what each pass reads of it, and when two
values of it are the same.

One table serves the cross-check (do the rules and LLM passes say the same thing? whose value
enters the record?), the review (what a label made from a reviewed record may hold) and the
eval's scoring (is a prediction right against a hand label?), so every field is named, compared
and merged in one place.  Each row has two comparators because the two questions differ: two
passes agree on a request worded a little differently (``agree``), while a label is strict
about what it states and silent about what it leaves out (``score``).

Field names are schema paths relative to the determination, list indices written ``[]``
(``items[].decision``); a :class:`FieldPath` is one value's concrete place, written as a
record's evidence, confidence and checks write it (``determination.items[2].decision``).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from extractor.alignment import similarity
from extractor.schemas import BodyRegion, Determination, Guideline, Item

ROOT = "determination"
ITEMS = "items"
ITEM_PREFIX = f"{ITEMS}[]."
SECTIONS: tuple[str, ...] = tuple(name for name in Determination.model_fields if name != ITEMS)
"""The determination's one-of sections, in schema order: ``case``, ``reviewer``, ``patient``."""
LABEL_SIMILARITY = 0.9
"""A predicted text matches its label from this normalised similarity up."""
PASSES_SIMILARITY = 0.85
"""The two passes name the same request from this similarity up (the LLM rewords a little)."""

Comparator = Callable[[Any, Any], bool]
Step = str | int


class PathError(ValueError):
    """A string that is not the path of a field of a determination."""


_PATH = re.compile(rf"{ROOT}((?:\.[a-z_]+(?:\[\d+\])*)*)")
_STEP = re.compile(r"\.([a-z_]+)|\[(\d+)\]")


@dataclass(frozen=True)
class FieldPath:
    """One value's place in a record's determination, as steps: ``("items", 2, "decision")``.

    The one parser and writer of the strings a record carries in ``checks[].field`` and as
    ``evidence`` and ``confidence`` keys (``str()`` of the path above is
    ``determination.items[2].decision``), so no module builds or reads them by hand.  No steps
    is the determination itself, ``determination``: where a check on the whole of it sits.
    """

    steps: tuple[Step, ...]

    @classmethod
    def of(cls, *steps: Step) -> FieldPath:
        return cls(steps)

    @classmethod
    def parse(cls, text: str) -> FieldPath:
        """The path ``text`` writes; :class:`PathError` unless it is one."""
        match = _PATH.fullmatch(text)
        if match is None:
            raise PathError(f"not a field path: {text!r}")
        return cls(tuple(name or int(index) for name, index in _STEP.findall(match.group(1))))

    def __str__(self) -> str:
        return f"{ROOT}.{self.relative}" if self.steps else ROOT

    @property
    def relative(self) -> str:
        """The path below the root: ``items[2].decision`` (what the eval's misses say)."""
        written = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in self.steps)
        return written.removeprefix(".")

    @property
    def name(self) -> str:
        """The field it is a value of, indices written ``[]``: ``items[].decision``, the key of
        :data:`BY_NAME` (``reviewer.specialties[]`` for one specialty)."""
        written = "".join("[]" if isinstance(step, int) else f".{step}" for step in self.steps)
        return written.removeprefix(".") or ROOT

    @property
    def section(self) -> str:
        """``case``, ``reviewer``, ``patient`` or ``items`` (``""`` for the determination)."""
        return str(self.steps[0]) if self.steps else ""

    @property
    def item(self) -> int | None:
        """The index of the item it is in, None outside the items (and for the list itself)."""
        if self.section == ITEMS and len(self.steps) > 1 and isinstance(self.steps[1], int):
            return self.steps[1]
        return None

    @property
    def last(self) -> Step:
        return self.steps[-1]

    def child(self, *steps: Step) -> FieldPath:
        return FieldPath((*self.steps, *steps))

    def parent_in(self, data: Any) -> Any:
        """The JSON object or list that holds this value in ``data``, a determination's JSON
        (``KeyError``, ``IndexError`` or ``TypeError`` where ``data`` has no such place)."""
        node = data
        for step in self.steps[:-1]:
            node = node[step]
        return node

    def under(self, other: FieldPath) -> bool:
        """Whether this is ``other`` or inside it (``specialties[0]`` is under ``specialties``)."""
        return self.steps[: len(other.steps)] == other.steps

    def shifted(self, at: int, delta: int) -> FieldPath | None:
        """This path once an item is added (+1) or removed (-1) at ``at``: a later item's paths
        move, and one in the removed item is gone (None)."""
        index = self.item
        if index is None or index < at:
            return self
        if delta < 0 and index == at:
            return None
        return FieldPath((ITEMS, index + delta, *self.steps[2:]))


def path(*parts: Step) -> str:
    """The concrete path of a value in a record.

    ``path("case", "decision_date")`` is ``determination.case.decision_date``;
    ``path("items", 2, "decision")`` is ``determination.items[2].decision``.
    """
    return str(FieldPath(parts))


def field_name(concrete: str) -> str:
    """The field a concrete path is a value of: ``determination.items[2].decision`` is
    ``items[].decision``."""
    return FieldPath.parse(concrete).name


def json_value(value: Any, *, unset: bool = True) -> Any:
    """A value as a record's JSON writes it (``unset=False``: a model without the keys it was
    not given, as a label leaves a key out)."""
    if isinstance(value, list | tuple):
        return [json_value(element, unset=unset) for element in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=not unset)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


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

    The lists of ``(source, pages)`` must be equal, titles fuzzy-equal pairwise, chapters equal
    and sections equal as sets; a key left out of a label's guideline is not compared.
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
        if "chapter" in labelled and label.chapter != predicted.chapter:
            return "chapters differ"
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


Pass = Literal["rules", "llm"]
BOTH: frozenset[Pass] = frozenset({"rules", "llm"})

Fill = Literal["never", "unread", "undecided", "cited"]
"""When the LLM's value of a cross-checked field enters the record instead of the rules
pass's (otherwise the rules value stands, whatever the LLM says):

- ``never``: the rules value always stands (a value only the LLM read is a flagged check);
- ``unread``: the rules pass marks the field "not read" in this letter;
- ``undecided``: the classifier could not decide the item's category (the LLM's is not ``other``);
- ``cited``: the rules pass read none, and the letter names every title and section the LLM cites.
"""


def section_model(section: str) -> type[BaseModel]:
    """The schema's model of a section's fields (``Item`` for ``items``)."""
    model = Item if section == ITEMS else Determination.model_fields[section].annotation
    assert isinstance(model, type), section
    assert issubclass(model, BaseModel), section
    return model


@dataclass(frozen=True)
class KeyField:
    """One field's facts: which passes read it, whether the LLM is asked for it, how a prediction
    is scored, how the two passes are compared (``agree``; None: not cross-checked) and when the
    LLM's value is the record's (``fill``)."""

    name: str
    score: Comparator = exact
    agree: Comparator | None = None
    fill: Fill = "never"
    read_by: frozenset[Pass] = BOTH
    asked: bool = True
    """Whether the model is asked for it (a field the LLM pass reads in code, from what the
    model wrote, is read by it and not asked: a patient's body regions, from its diagnoses)."""

    @property
    def section(self) -> str:
        """``case``, ``reviewer``, ``patient``, ``items`` (an item's field), or ``""`` (the item list)."""
        return self.name.split(".", 1)[0].removesuffix("[]") if "." in self.name else ""

    @property
    def key(self) -> str:
        """The attribute in its section's model (``decision`` for ``items[].decision``)."""
        return self.name.rsplit(".", 1)[-1]

    @property
    def info(self) -> FieldInfo:
        """The schema's declaration of the field (its type, its default)."""
        return section_model(self.section).model_fields[self.key]

    def at(self, index: int | None = None) -> FieldPath:
        """The field's value in a record (``index``: the item's, for an item's field)."""
        if self.section == ITEMS:
            assert index is not None, self.name
            return FieldPath.of(ITEMS, index, self.key)
        return FieldPath.of(*self.name.split("."))


_FUZZY_PASSES = similar(PASSES_SIMILARITY)
_RULES: frozenset[Pass] = frozenset({"rules"})

_FACTS: tuple[KeyField, ...] = (
    *(KeyField(f"case.{name}", agree=exact, fill="unread") for name in section_model("case").model_fields),
    KeyField("reviewer.licensure_states", same_list, same_list, "unread"),
    KeyField("reviewer.specialties", same_name_set, same_name_set, "unread"),
    KeyField("reviewer.subspecialties", same_name_set, same_name_set, "unread"),
    KeyField("patient.age", agree=exact, fill="unread"),
    KeyField("patient.sex", agree=exact, fill="unread"),
    KeyField("patient.diagnoses", agree=same_diagnoses, fill="unread"),  # scored per diagnosis
    KeyField("patient.mechanism_of_injury", fuzzy_equal, _FUZZY_PASSES, "unread"),
    # the regions the summary names (the rules pass) and those the LLM's diagnoses name (in code,
    # extractor.regions): they agree when the LLM's are among the rules'
    KeyField("patient.body_regions", same_regions, regions_within, "unread", asked=False),
    # one unit per labelled code, through the diagnosis it codes (evals.scoring); not
    # cross-checked: both passes code their diagnoses with one coder (extractor.icd)
    KeyField("patient.diagnosis_codes", asked=False),
    KeyField(ITEMS, agree=exact),  # the passes compare how many items they read
    KeyField(f"{ITEM_PREFIX}request", fuzzy_equal, _FUZZY_PASSES),
    KeyField(f"{ITEM_PREFIX}original_request", fuzzy_equal),
    KeyField(f"{ITEM_PREFIX}decision", agree=exact),
    KeyField(f"{ITEM_PREFIX}category", agree=exact, fill="undecided"),
    KeyField(f"{ITEM_PREFIX}body_regions", same_regions, same_regions, asked=False),
    KeyField(f"{ITEM_PREFIX}authorized", fuzzy_equal, _FUZZY_PASSES),
    # read by the rules pass only: scored, not cross-checked
    KeyField(f"{ITEM_PREFIX}depends_on", asked=False, read_by=_RULES),
    KeyField(f"{ITEM_PREFIX}date_of_service", asked=False, read_by=_RULES),
    # both passes read these from the request through one vocabulary (extractor.drugs), so the
    # request's check covers them; drugs are scored as an ordered list (the order requested)
    KeyField(f"{ITEM_PREFIX}drugs", same_list, asked=False),
    KeyField(f"{ITEM_PREFIX}drug_class", asked=False),
    KeyField(f"{ITEM_PREFIX}claims_administrator_guidelines", same_guidelines, same_sources_pages, "cited"),
    KeyField(f"{ITEM_PREFIX}reviewer_guidelines", same_guidelines, same_sources_pages, "cited"),
    KeyField(f"{ITEM_PREFIX}rationale", fuzzy_equal, asked=False, read_by=_RULES),
)
_BY_FACTS = {field.name: field for field in _FACTS}
NOT_KEY = frozenset({"patient.diagnosis_coding"})
"""Schema fields that are no value of the letter's: how each code was found, and its score."""


def name_of(section: str, key: str) -> str:
    """The name of field ``key`` of ``section``: ``case.priority``, ``items[].decision``."""
    return f"{ITEM_PREFIX}{key}" if section == ITEMS else f"{section}.{key}"


def schema_names() -> list[str]:
    """Every field of the determination in schema order, the item list between the patient and
    the items' fields (the order of reports, of confidence and of the cross-check's checks)."""
    names = [name_of(section, key) for section in SECTIONS for key in section_model(section).model_fields]
    return [*names, ITEMS, *(name_of(ITEMS, key) for key in Item.model_fields)]


KEY_FIELDS: tuple[KeyField, ...] = tuple(
    _BY_FACTS.get(name, KeyField(name)) for name in schema_names() if name not in NOT_KEY
)
"""Every key field, in schema order: the schema's fields, with the facts :data:`_FACTS` states
(a field it does not name is exact, not cross-checked, read by both passes and asked)."""

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
    paths = [str(field.at()) for field in read if field.section in SECTIONS]
    for index in range(len(determination.items)):
        paths += [str(field.at(index)) for field in read if field.section == ITEMS]
    return paths


def not_read_by(reading: Collection[Pass]) -> frozenset[str]:
    """The fields no pass in ``reading`` reads (a backend's passes: its records never hold a
    reading of them, so they are not scored for it, nor labelled from its record)."""
    return frozenset(field.name for field in KEY_FIELDS if field.read_by.isdisjoint(reading))
