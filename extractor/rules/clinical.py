"""Diagnoses and mechanism of injury, read from the case summary's own statements.

A summary states its diagnoses in one sentence ("The diagnoses include A, B and C", "was being
treated for ...", "The current diagnosis is documented as ...") and the mechanism in another
("The mechanism of injury was ...", "injured on <date> when he ..."). The first such statement
is the one read. Its list is split into one diagnosis per entry the way evals/LABELLING.md
says: on commas (semicolons when the list uses them) and the final "and", keeping together what
is one diagnosis written with commas ("strain of muscle, fascia and tendon", "..., subsequent
encounter") or with a shared noun ("cervical and lumbar spine strain", "neck, back and shoulder
pain").

Each reader says whether it could tell: ``None`` means "not read" (the summary mentions the
field in a way no pattern reads), which is a flagged check, not a silent empty value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from extractor.fields import path
from extractor.normalize import one_line
from extractor.rules.evidence import Evidence
from extractor.schemas import Span

_VERB_AS = r"(?:documented|noted|listed|reported|detailed|described|given|recorded)\s+as"
_DIAGNOSIS_CUES = re.compile(
    r"\bdiagnosed\s+(?:with|as\s+having|as)\s+"
    rf"|\bdiagnos(?:is|es)\s+(?:(?:that\s+)?includ(?:e[sd]?|ing)|of"
    rf"|(?:is|are|was|were)(?:\s+{_VERB_AS})?|{_VERB_AS})\s*:?\s+"
    r"|\bdiagnos(?:is|es)\s*:\s*"
    r"|\b(?:undergoing|receiving|under)\s+(?:treatments?|care)\s+for\s+"
    r"|\b(?:being|been|is|was|were)\s+treated\s+for\s+"
    r"|\b(?:assessments?|impressions?)\s+(?:included|includes|include|(?:is|are|was|were)(?:\s+of)?)\s*:?\s+",
    re.I,
)
# Where a diagnosis list ends: the sentence's full stop, or the treatment after "treated for X".
_SENTENCE_END = re.compile(r"\.(?=[\"')\]]*(?:\s+[A-Z0-9\"(]|[A-Z]|\s*$))|;\s*(?=[A-Z])|$")
_LIST_STOP = re.compile(
    r"\s+with\s+(?:medications?|physical\s+therapy|conservative|injections?|surgery|rest|"
    r"chiropractic|acupuncture|activity\s+modification)\b|\s+(?:since|from)\s+\d",
    re.I,
)
_MENTIONS_DIAGNOSIS = re.compile(r"\bdiagnos(?:ed|is|es)\b", re.I)

# Words that name where, not what: a list entry of one of them shares the next entry's noun
# ("neck, back and shoulder pain"), and "and" between two of them joins, not splits.
_LOCATIONS = frozenset(
    {
        "cervical", "thoracic", "lumbar", "lumbosacral", "sacral", "neck", "back", "spine", "head",
        "shoulder", "shoulders", "arm", "arms", "elbow", "elbows", "forearm", "wrist", "wrists", "hand",
        "hands", "finger", "fingers", "knee", "knees", "hip", "hips", "leg", "legs", "ankle", "ankles",
        "foot", "feet", "pelvis", "chest", "abdomen", "upper", "lower", "left", "right", "bilateral",
        "mid", "low",
    }
)  # fmt: skip
_ENCOUNTER = frozenset({"the", "initial", "subsequent", "encounter"})
# An entry that continues the one before it: ICD wording ("strain of muscle, fascia and
# tendon", "sprain, subsequent encounter", "dorsalgia, unspecified", "radiculopathy, cervical
# region").
_CONTINUES = re.compile(
    r"(?:and\s+)?(?:fascia|tendons?)\b|(?:initial|subsequent)(?:\s+encounter)?\b|sequela\b|"
    r"unspecified\b|\w+\s+region\b|(?:left|right)\s+side\b",
    re.I,
)
_ARTICLE = re.compile(r"(?:an?|the)\s+(?!history\b)", re.I)
_TRIM = " \t\n\"'.,;:"
UNREAD_WORDING = "not read: the summary names a diagnosis in a wording the rules do not read"
UNREAD_LIST = "not read: the summary's diagnosis statement lists nothing the rules could split"


@dataclass(frozen=True)
class Reading:
    """What a summary says about one field; ``read`` is False when it could not be told."""

    read: bool
    note: str | None = None


def _trimmed(text: str, span: Span) -> Span:
    start, end = span
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    article = _ARTICLE.match(text, start, end)
    return (article.end() if article else start, end)


def _words(text: str, span: Span) -> list[str]:
    return re.findall(r"[A-Za-z][\w'-]*", text[span[0] : span[1]])


def _top_level(text: str, span: Span, separator: str) -> list[Span]:
    """``span`` cut at each ``separator`` outside parentheses."""
    parts: list[Span] = []
    depth, start = 0, span[0]
    for index in range(span[0], span[1]):
        char = text[index]
        depth += (char == "(") - (char == ")")
        if char == separator and depth <= 0:
            parts.append((start, index))
            start = index + 1
    parts.append((start, span[1]))
    return [_trimmed(text, part) for part in parts if _trimmed(text, part)[1] > _trimmed(text, part)[0]]


def _joins_places(text: str, left: Span, right: Span) -> bool:
    """``left and right`` shares one noun ("cervical and lumbar spine strain") or names one place
    ("contusion of the lower back and pelvis"): one side is nothing but places."""
    before = [w.lower() for w in _words(text, left)]
    after = [w.lower() for w in _words(text, right) if w.lower() not in _ENCOUNTER]
    return all(w in _LOCATIONS for w in before) or all(w in _LOCATIONS for w in after)


def _split_last(text: str, span: Span) -> list[Span]:
    """The list's last entry, cut at its first "and" that starts a new diagnosis."""
    ands = list(re.finditer(r"\s+and\s+", text[span[0] : span[1]]))
    for index, match in enumerate(ands):
        left = (span[0], span[0] + match.start())
        right = (span[0] + match.end(), span[1])
        upto_next = (right[0], span[0] + ands[index + 1].start()) if index + 1 < len(ands) else right
        if not _joins_places(text, left, upto_next):
            return [_trimmed(text, left), _trimmed(text, right)]
    return [span]


def split_diagnoses(text: str, span: Span) -> list[Span]:
    """One span per diagnosis in the list at ``span`` (see the module docstring)."""
    separator = ";" if ";" in text[span[0] : span[1]] else ","
    parts = _top_level(text, span, separator)
    entries: list[Span] = []
    for part in parts:
        if entries and _CONTINUES.match(text, part[0], part[1]):
            entries[-1] = (entries[-1][0], part[1])
        else:
            entries.append(part)
    merged: list[Span] = []
    pending: int | None = None  # start of a run of bare places that shares the next entry's noun
    for part in entries:
        words = _words(text, part)
        if len(words) == 1 and words[0].lower() in _LOCATIONS and part is not entries[-1]:
            pending = part[0] if pending is None else pending
            continue
        merged.append((pending, part[1]) if pending is not None else part)
        pending = None
    if not merged:
        return []
    last = merged.pop()
    oxford = re.match(r"and\s+", text[last[0] : last[1]])
    if oxford:
        merged.append((last[0] + oxford.end(), last[1]))
    else:
        merged.extend(_split_last(text, last))
    return [part for part in merged if part[1] > part[0]]


def _list_end(text: str, start: int, end: int) -> int:
    """Where the statement starting at ``start`` ends: its sentence, or a treatment after it."""
    sentence = _SENTENCE_END.search(text, start, end)
    stop = sentence.start() if sentence else end
    cut = _LIST_STOP.search(text, start, stop)
    return cut.start() if cut else stop


def _value(text: str, span: Span) -> str:
    return one_line(text[span[0] : span[1]]).strip(_TRIM)


def extract_diagnoses(text: str, summary: Span, evidence: Evidence) -> tuple[list[str], Reading]:
    """The diagnoses of the summary's first diagnosis statement, one entry each, with spans."""
    start, end = summary
    cue = _DIAGNOSIS_CUES.search(text, start, end)
    if cue is None:
        if _MENTIONS_DIAGNOSIS.search(text, start, end):
            return [], Reading(False, UNREAD_WORDING)
        return [], Reading(True)
    spans = split_diagnoses(text, (cue.end(), _list_end(text, cue.end(), end)))
    values: list[str] = []
    for span in spans:
        value = _value(text, span)
        if value:
            evidence.add(path("patient", "diagnoses", len(values)), span)
            values.append(value)
    if not values:
        return [], Reading(False, UNREAD_LIST)
    return values, Reading(True)


# --------------------------------------------------------------------------- mechanism

_SUBJECT = r"(?:(?:he|she|they|the\s+(?:injured\s+)?(?:worker|patient|applicant|employee|claimant|IW))\s+)"
_MECHANISM_STATED = re.compile(
    r"\bmechanism\s+of\s+(?:the\s+)?injury\s+(?:(?:is|was|has\s+been)\s+)?"
    rf"(?:{_VERB_AS}|(?:occurred|happened)\s+(?:when|while|after)\s+{_SUBJECT}?(?:was\s+)?"
    r"|(?:is|was)\s+(?:from|due\s+to|by|that|as)|(?:is|was)\s*:?|:)\s*",
    re.I,
)
_MECHANISM_UNKNOWN = re.compile(
    r"(?:unclear|unknown|not\s+(?:documented|stated|provided|specified|described|noted|known|"
    r"reported|clear|given|detailed))\b",
    re.I,
)
# "injured on <date> when he slipped ...", "a work injury dated <date> after a fall out of ...",
# "reported low back pain after lifting ...", "seen in the emergency room after he slipped ..."
_FALL_VERBS = (
    r"(?:slipped|tripped|fell|fainted|lifted|twisted|pushed|pulled|jumped"
    r"|was\s+(?:struck|hit|pinned|crushed))"
)
_MECHANISM_CLAUSE = re.compile(
    rf"\b(?:injur(?:y|ies|ed)|accident|incident)\b[^.;]{{0,80}}?\b(?:when|while|after)\s+{_SUBJECT}?(?:was\s+)?"
    rf"|\bpain\b[^.;]{{0,40}}?\bafter\s+(?=\w+ing\b)"
    rf"|\b(?:when|while|after)\s+{_SUBJECT}(?={_FALL_VERBS}\b)",
    re.I,
)
# What follows an injury's "when" but is its result, not its cause.
_CONSEQUENCE = re.compile(
    r"(?:he|she)?\s*(?:suffered|sustained|injured|hurt|developed|experienced|noted|reported|felt|"
    r"incurred|complained|presented|was\s+(?:seen|treated|diagnosed|evaluated))\b",
    re.I,
)
_MECHANISM_STOP = re.compile(
    r",|\s+and\s+(?:landed|injured|hurt|sustained|suffered|developed|felt|noted|reported|was\s+seen)\b"
    r"|\s+(?:on|in)\s+(?:or\s+about\s+)?(?:\d|January|February|March|April|May|June|July|August|"
    r"September|October|November|December)",
    re.I,
)


def _phrase(text: str, start: int, end: int) -> Span:
    sentence = _SENTENCE_END.search(text, start, end)
    stop = sentence.start() if sentence else end
    cut = _MECHANISM_STOP.search(text, start, stop)
    return _trimmed(text, (start, cut.start() if cut else stop))


def extract_mechanism(text: str, summary: Span, evidence: Evidence) -> tuple[str | None, Reading]:
    """How the injury happened, as a short phrase, from the summary's first statement of it."""
    start, end = summary
    stated = _MECHANISM_STATED.search(text, start, end)
    if stated is not None and _MECHANISM_UNKNOWN.match(text, stated.end(), end):
        return None, Reading(True)
    if stated is not None:
        at: int | None = stated.end()
    else:
        clauses = _MECHANISM_CLAUSE.finditer(text, start, end)
        at = next((c.end() for c in clauses if not _CONSEQUENCE.match(text, c.end(), end)), None)
    if at is None:
        return None, Reading(True)
    span = _phrase(text, at, end)
    value = _value(text, span)
    if not value:
        return None, Reading(False, "not read: the summary states a mechanism the rules could not cut")
    evidence.add(path("patient", "mechanism_of_injury"), span)
    return value, Reading(True)
