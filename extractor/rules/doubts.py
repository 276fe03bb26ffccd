"""What makes a value the rules pass read doubtful: each signal a small pure function.

Each signal is a way the rules are known to go wrong on letters they were not tuned on, found
from how the value was read or from how it sits with the rest of the letter: a diagnosis
entry that holds the statement's own words or only places (a split at a comma inside one
diagnosis), a category decided by a near tie or against the guidelines cited, a mechanism read
from a clause rather than a stated one, or none read where the summary tells of an accident,
regions read from the summary's complaints that no diagnosis names, a surgery chosen among
several, a guideline chapter the vocabulary does not know. Each gives a
:class:`~extractor.confidence.Doubt` with a reason in words; extractor.confidence turns the
signals into calibrated probabilities.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from extractor.citations import UNKNOWN_CHAPTER, UNKNOWN_SECTION, doubtful_split, unknown_chapter
from extractor.confidence import Doubt
from extractor.diagnoses import LOCATIONS
from extractor.fields import path
from extractor.normalize import one_line
from extractor.regions import regions_in
from extractor.rules.categories import cited, cited_category, classification
from extractor.rules.clinical import mechanism_clauses, mechanism_statement
from extractor.rules.services import retrospective, serves_surgery
from extractor.schemas import BodyRegion, Category, Decision, Determination, Item, Span

NEAR_TIE = 0.8
"""A category whose classifier confidence is below this was decided by a near tie."""
LONG_DIAGNOSIS = 12
LONG_MECHANISM = 18
"""Words beyond which an entry likely runs on past what it names."""

# The words of a diagnosis statement, which belong around its list, not in an entry.
_FRAME = re.compile(
    r"^(?:diagnos\w*|includ\w*|as|are|is|was|were|documented|listed|noted|following)\b"
    r"|\bdiagnos(?:is|es|ed)\b",
    re.I,
)
# An entry that goes on from the one before: it opens on a linking word.
_CONTINUATION = re.compile(r"^(?:of|with|at|in|on|to|involving|including|without|due|secondary)\b", re.I)
_ENCOUNTER = frozenset({"the", "and", "of", "initial", "subsequent", "encounter", "region", "side", "level"})
# Words that tell how an injury happened, where no mechanism was read.
_EVENT = re.compile(
    r"\b(?:fell|falls?|falling|slipped|slip|tripped|trip|lifting|lifted|carrying|pushing|pulling|twisted"
    r"|collision|motor\s+vehicle|MVA|MVC|rear[- ]ended|struck|hit\s+by|assault\w*|repetitive|cumulative"
    r"|continuous\s+trauma|bending|climbing|jumped|crushed|caught)\b",
    re.I,
)
# Roots of words that name a part of the body (bones, joints, spinal levels, eponyms of a place):
# a diagnosis holding one that the region vocabulary does not place names a region it does not know.
_ANATOMICAL = re.compile(
    r"\b(?:radi(?:us|al)|uln(?:a|ar)|humer\w*|scapul\w*|clavic\w*|acromi\w*|labr\w*|thorac\w*|vertebr\w*"
    r"|spin\w*|dis[ck]s?|lumb\w*|sacr\w*|cocc\w*|cervic\w*|dors\w*|carp\w*|metacarp\w*|phalan\w*|digit\w*"
    r"|femor\w*|patell\w*|tibi\w*|fibul\w*|tars\w*|metatars\w*|calcan\w*|achill\w*|glute\w*|ilia\w*"
    r"|sciat\w*|intercost\w*|stern\w*|crani\w*|mandib\w*|orbit\w*|menisc\w*|quervain\w*|trapez\w*"
    r"|[CTLS]\d{1,2})\b",
    re.I,
)
# Treatment given in sessions ("3x4", "2 x 6", "twelve sessions"): not a one-off service.
_SESSIONS = re.compile(r"\b\d+\s*x\s*\d+\b|\bsessions?\b|\bvisits?\b|\btimes\s+(?:a|per)\s+week\b", re.I)
_ONE_OFF = frozenset({Category.IMAGING, Category.ELECTRODIAGNOSTIC, Category.LABORATORY, Category.SURGERY})
_SENTENCES = re.compile(r"[^.]+(?:\.|$)")
_DENIED = re.compile(
    r"\b(?:not|non)[- ](?:medically\s+)?(?:necessary|recommended|indicated|appropriate|supported)\b", re.I
)
_GRANTED = re.compile(
    r"\b(?:is|are|was|were)\s+(?:medically\s+)?(?:necessary|recommended|indicated|appropriate|supported)\b",
    re.I,
)


def _words(text: str) -> list[str]:
    return [word.lower() for word in re.findall(r"[A-Za-z][\w'-]*", text)]


def _quote(text: str, width: int = 60) -> str:
    text = one_line(text)
    return f"'{text}'" if len(text) <= width else f"'{text[: width - 1]}…'"


# --------------------------------------------------------------------------- patient


def diagnosis_doubts(diagnoses: Sequence[str]) -> Iterator[Doubt]:
    """Entries that hold the statement's words, only places, a linking word at their start, or
    too many words: signs the list was cut in the wrong place."""
    where = path("patient", "diagnoses")
    for entry in diagnoses:
        words = _words(entry)
        if _FRAME.search(entry):
            yield Doubt(
                where, "diagnosis_frame_words", f"diagnosis {_quote(entry)} holds the words of its statement"
            )
        elif words and all(word in LOCATIONS or word in _ENCOUNTER for word in words):
            reason = f"list split at a comma inside what may be one diagnosis: {_quote(entry)}"
            yield Doubt(where, "diagnosis_place_only", reason, confirmable=False)
        elif _CONTINUATION.match(entry):
            reason = f"list split at a comma inside what may be one diagnosis: {_quote(entry)} goes on"
            yield Doubt(where, "diagnosis_continuation", reason, confirmable=False)
        elif len(words) > LONG_DIAGNOSIS:
            reason = f"diagnosis {_quote(entry)} runs {len(words)} words: it may hold more than one"
            yield Doubt(where, "diagnosis_long", reason, confirmable=False)


def mechanism_doubts(text: str, summary: Span, mechanism: str | None) -> Iterator[Doubt]:
    """A mechanism read from a clause among several, or none read where the summary tells of
    an accident."""
    where = path("patient", "mechanism_of_injury")
    stated = mechanism_statement(text, summary)
    if mechanism is None:
        event = _EVENT.search(text, *summary)
        if event is not None and not stated:
            yield Doubt(
                where,
                "mechanism_none_but_event",
                f"no mechanism read, yet the summary says {_quote(event.group())}",
            )
        return
    if len(_words(mechanism)) > LONG_MECHANISM:
        yield Doubt(
            where, "mechanism_long", f"mechanism {_quote(mechanism)} runs on past how the injury happened"
        )
    if stated:
        return
    clauses = mechanism_clauses(text, summary)
    if len(clauses) > 1:
        others = ", ".join(_quote(clause, 40) for clause in clauses[1:3])
        yield Doubt(
            where,
            "mechanism_several",
            f"the summary tells {len(clauses)} ways it happened; the first was read (also {others})",
        )
    else:
        yield Doubt(
            where, "mechanism_clause", "mechanism read from a clause, not a stated mechanism of injury"
        )


def region_doubts(patient_regions: Sequence[BodyRegion], diagnoses: Sequence[str]) -> Iterator[Doubt]:
    """Regions read from the summary's statements of injury or complaint that no diagnosis names
    (where the reading of a sentence decides, not a listed diagnosis), and a diagnosis that names
    a part of the body the region vocabulary does not place."""
    where = path("patient", "body_regions")
    diagnosed = {region.region for region in regions_in("; ".join(diagnoses))}
    outside = [region.region.value for region in patient_regions if region.region not in diagnosed]
    if outside:
        # the LLM pass's regions are its diagnoses': its agreeing says nothing of these
        reason = f"{', '.join(outside)} read from statements of injury or complaint, in no diagnosis"
        yield Doubt(where, "regions_outside_diagnoses", reason, confirmable=False)
    for entry in diagnoses:
        word = _ANATOMICAL.search(entry)
        if word is not None and not regions_in(entry):
            named = f"{_quote(entry)} names a part of the body ({_quote(word.group())})"
            yield Doubt(
                where, "regions_unknown_word", f"diagnosis {named} the region vocabulary does not place"
            )
            return


# --------------------------------------------------------------------------- items


def category_doubts(index: int, item: Item) -> Iterator[Doubt]:
    """A category decided by a near tie, by a heading's frame, against the guidelines cited, or
    a one-off service requested in sessions."""
    where = path("items", index, "category")
    guidelines = cited((item.claims_administrator_guidelines, item.reviewer_guidelines))
    found = classification(item.request, guidelines)
    if item.category is Category.OTHER:
        yield Doubt(where, "category_undecided", "the classifier could not decide the category")
        return
    if found.confidence < NEAR_TIE and found.runner_up is not None:
        pair = f"{found.category.value} against {found.runner_up.value}"
        reason = f"category from a near tie: {pair} ({found.confidence:.2f})"
        yield Doubt(where, "category_near_tie", reason)
    frame, colon, rest = item.request.partition(":")
    if colon and rest.strip():
        alone = classification(rest, guidelines)
        if alone.category not in (item.category, Category.OTHER) and alone.confidence >= NEAR_TIE:
            reason = (
                f"category from the words {_quote(frame, 30)} of a heading that names {alone.category.value}"
            )
            yield Doubt(where, "category_frame", reason)
    named = cited_category(guidelines)
    if named is not None and named is not item.category:
        yield Doubt(
            where,
            "category_against_guidelines",
            f"the guidelines cited are about {named.value}, the heading reads {item.category.value}",
        )
    sessions = _SESSIONS.search(item.request)
    if item.category in _ONE_OFF and sessions:
        yield Doubt(
            where,
            "category_sessions",
            f"{item.category.value} requested in sessions ({_quote(sessions.group(), 20)})",
        )


def decision_doubts(index: int, item: Item) -> Iterator[Doubt]:
    """A decision that the rationale's last sentence contradicts."""
    if not item.rationale:
        return
    sentences = [s.group().strip() for s in _SENTENCES.finditer(item.rationale) if s.group().strip()]
    last = sentences[-1] if sentences else ""
    denied, granted = _DENIED.search(last), _GRANTED.search(last)
    against = (item.decision is Decision.OVERTURNED and denied) or (
        item.decision is Decision.UPHELD and granted and not denied
    )
    if against:
        reason = f"the rationale ends {_quote(last, 50)}, the decision reads {item.decision.value}"
        yield Doubt(path("items", index, "decision"), "decision_against_rationale", reason)


def item_region_doubts(index: int, item: Item) -> Iterator[Doubt]:
    """Regions taken from the rationale rather than the request."""
    if item.body_regions and not regions_in(item.request):
        yield Doubt(
            path("items", index, "body_regions"),
            "item_regions_from_rationale",
            "regions read from the rationale: the request names none",
        )


def service_doubts(index: int, items: Sequence[Item]) -> Iterator[Doubt]:
    """A surgery chosen among several, a served surgery not found, a retrospective item with
    no date of service read."""
    item = items[index]
    if serves_surgery(item.request):
        surgeries = [
            other
            for other in items
            if other.category is Category.SURGERY and not serves_surgery(other.request)
        ]
        if len(surgeries) > 1:
            reason = f"the letter has {len(surgeries)} surgeries; the nearest before the item was taken"
            yield Doubt(path("items", index, "depends_on"), "depends_on_several", reason)
        elif not surgeries:
            yield Doubt(
                path("items", index, "depends_on"),
                "depends_on_no_surgery",
                "the item serves a surgery the letter's items do not name",
            )
    if retrospective(item.request) and item.date_of_service is None:
        yield Doubt(
            path("items", index, "date_of_service"),
            "service_date_missing",
            "a retrospective item with no date of service read",
        )


def guideline_doubts(index: int, item: Item) -> Iterator[Doubt]:
    """A "Section(s):" list split next to a name the project does not know, and a title naming a
    chapter the vocabulary does not know (its chapter left null rather than guessed)."""
    for name in ("claims_administrator_guidelines", "reviewer_guidelines"):
        guidelines = getattr(item, name)
        where = path("items", index, name)
        if any(doubtful_split(guideline) for guideline in guidelines):
            yield Doubt(where, "unknown_section", UNKNOWN_SECTION, confirmable=False)
        if any(unknown_chapter(guideline) for guideline in guidelines):
            yield Doubt(where, "unknown_chapter", UNKNOWN_CHAPTER, confirmable=False)


# --------------------------------------------------------------------------- the letter


def find_doubts(text: str, summary: Span | None, determination: Determination) -> list[Doubt]:
    """Every doubt about the values the rules pass read from ``text``."""
    patient = determination.patient
    doubts: list[Doubt] = [*diagnosis_doubts(patient.diagnoses)]
    if summary is not None:
        doubts += mechanism_doubts(text, summary, patient.mechanism_of_injury)
        doubts += region_doubts(patient.body_regions, patient.diagnoses)
    items = determination.items
    for index, item in enumerate(items):
        doubts += category_doubts(index, item)
        doubts += decision_doubts(index, item)
        doubts += item_region_doubts(index, item)
        doubts += service_doubts(index, items)
        doubts += guideline_doubts(index, item)
    return doubts
