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

from extractor.diagnoses import TRIM, split_diagnoses, trimmed
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

UNREAD_WORDING = "not read: the summary names a diagnosis in a wording the rules do not read"
UNREAD_LIST = "not read: the summary's diagnosis statement lists nothing the rules could split"


@dataclass(frozen=True)
class Reading:
    """What a summary says about one field; ``read`` is False when it could not be told."""

    read: bool
    note: str | None = None


def _list_end(text: str, start: int, end: int) -> int:
    """Where the statement starting at ``start`` ends: its sentence, or a treatment after it."""
    sentence = _SENTENCE_END.search(text, start, end)
    stop = sentence.start() if sentence else end
    cut = _LIST_STOP.search(text, start, stop)
    return cut.start() if cut else stop


def _value(text: str, span: Span) -> str:
    return one_line(text[span[0] : span[1]]).strip(TRIM)


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
#
# Letters state a mechanism in a few general ways: a statement naming it ("The mechanism of
# injury was detailed as ..."); a clause tied to the injury ("injured on <date> when/while/after
# ...", "an injury due to / as a result of / from ..."); the onset of the pain ("pain that
# started while ...", "low back pain after lifting ..."); what the worker was doing when he felt
# it ("He was lifting a box when he felt a pop"); or the kind of injury ("a cumulative trauma
# claim"). The explicit statement wins; otherwise the first of the others in the summary.

_SUBJECT = r"(?:(?:he|she|they|the\s+(?:injured\s+)?(?:worker|patient|applicant|employee|claimant|IW))\s+)"
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_MECHANISM_STATED = re.compile(
    r"(?P<none>\bno\s+(?:[\w-]+\s+){0,2})?"
    r"(?:\bmechanism\s+of\s+(?:the\s+)?injur(?:y|ies)|\binjury\s+mechanism|\bMOI\b)\s*"
    r"(?:(?:is|was|has\s+been)\s+)?"
    rf"(?:{_VERB_AS}|(?:noted|reported|documented|described|said|stated)\s+to\s+(?:be|have\s+been)"
    rf"|(?:occurred|happened)\s+(?:when|while|after|as)\s+{_SUBJECT}?(?:was\s+)?"
    r"|involved|(?:resulted|resulting)\s+from"
    r"|(?:is|was)\s+(?:from|due\s+to|by|that|as|(?:the\s+)?(?:a\s+)?result\s+of)|(?:is|was)\s*:?|:)\s*",
    re.I,
)
_MECHANISM_UNKNOWN = re.compile(
    r"(?:un(?:clear|known|specified|documented|available|certain)|none\b|not\b)",
    re.I,
)
# The words that tie a clause to the injury named before it in the same sentence.
_INJURY = re.compile(
    r"\b(?:injur(?:y|ies|ed|ing)|hurt|accident|incident|involved)\b"
    r"(?!\s+(?:worker|employee|patient|applicant|party|IW)\b)",
    re.I,
)
_INJURY_REACH = 80
"""How far before its clause (in characters, within the sentence) the injury may be named."""
# "pain is worse after sitting": what aggravates the pain, not how the injury happened.
_AGGRAVATED = re.compile(r"\b(?:worse|worsen\w*|increas\w*|aggravat\w*|exacerbat\w*|flare\w*)\b", re.I)
_TIED = re.compile(
    r"\b(?:when|while|after|following|due\s+to|as\s+a\s+result\s+of|secondary\s+to|resulting\s+from"
    r"|caused\s+by|attributed\s+to"
    r"|from(?=\s+(?:an?\s|\w+ing\b|cumulative\b|continuous\b|repetitive\b|repeated\b))"
    r"|in(?=\s+an?\s+[\w\s-]{0,30}?\b(?:accident|collision|altercation|assault)\b))"
    rf"\s+{_SUBJECT}?(?:(?:was|were)\s+)?",
    re.I,
)
_FALL_VERBS = (
    r"(?:slipped|tripped|fell|fainted|lifted|twisted|pushed|pulled|jumped|struck|hit|pinned|crushed)"
)
# What a worker felt when the injury happened: "when he felt a pop", "when she injured her knee".
_FELT = (
    r"(?:(?:felt|noticed|heard|experienced)\s+[^.;,]{0,30}?\b(?:pain|pop|popping|snap|crack|strain|pull|twinge|tear)"
    r"|injured|hurt|twisted|strained|tore)\b"
)
_OWN_CLAUSE = re.compile(
    r"\b(?:pain|symptoms?|complaints?|discomfort)\b[^.;]{0,60}?\b"
    r"(?:(?:start|began|begin|onset|arose|came\s+on|develop)\w*\s+(?:when|while|after|following)"
    r"|(?:after|following)(?=\s+(?:\w+ing\b|an?\s+(?:fall|slip|trip)\b)))"
    rf"\s+{_SUBJECT}?(?:was\s+)?"
    rf"|\b(?:(?:when|while|after|as)\s+{_SUBJECT}|\breportedly\s+)(?:was\s+)?(?={_FALL_VERBS}\b)"
    rf"|\b{_SUBJECT}(?:was|were)\s+(?=\w+ing\b[^.;]{{0,80}}?\bwhen\s+{_SUBJECT}?{_FELT})"
    rf"|(?:^|[.;]\s*)while\s+(?=\w+ing\b[^.;]{{0,80}}?,\s*{_SUBJECT}{_FELT})",
    re.I | re.M,
)
_CUMULATIVE = re.compile(r"\b(?:cumulative|continuous)\s+trauma\b", re.I)
# What follows "when"/"while" but is not how the injury happened: its result ("when he
# suffered a concussion"), the worker's job ("while working as a cook"), or a date.
_NOT_A_MECHANISM = re.compile(
    r"(?:he|she)?\s*(?:suffered|sustained|injured|hurt|developed|experienced|noted|reported|felt|"
    r"incurred|complained|presented|was\s+(?:seen|treated|diagnosed|evaluated))\b"
    r"|(?:working|employed)(?:\s+(?:as|for|at|in|with)\b|\s*(?:[.;,]|$))|(?:at|on)\s+(?:work|the\s+job|duty)\b"
    r"|(?:in\s+)?the\s+course\s+of\b|performing\s+(?:his|her|their)\s+(?:usual|regular|normal|customary)\b"
    rf"|(?:\d|{_MONTH})",
    re.I,
)
# A diagnosis written before its cause ("lumbar strain from lifting"): the cause is the mechanism.
_DIAGNOSIS_FIRST = re.compile(
    r"(?:[\w'-]+\s+){0,4}?(?:strain|sprain|pain|contusion|fracture|tear|injury|injuries)\s+"
    r"(?:from|due\s+to|secondary\s+to|after|following|as\s+a\s+result\s+of)\s+",
    re.I,
)
# A statement that opens on what the worker felt ("occurred when he felt a sharp pain in the
# neck while getting out of a truck"): the mechanism is what he was doing, later in the sentence.
_FELT_FIRST = re.compile(rf"{_SUBJECT}?(?:felt|noticed|heard|experienced)\b", re.I)
_DOING = re.compile(rf"\b(?:while|when|after|as)\s+{_SUBJECT}?(?:(?:was|were)\s+)?(?=\w+ing\b)", re.I)
_MECHANISM_STOP = re.compile(
    rf"[,;]|\s+(?:and|when|as)\s+{_SUBJECT}?(?:landed|injured|hurt|sustained|suffered|developed|felt|noticed"
    r"|heard|noted|reported|was\s+seen)\b"
    r"|\s+while\s+(?:working|driving|employed|on\s+duty|at\s+work|performing)\b"
    rf"|\s+(?:on|in)\s+(?:or\s+about\s+)?(?:\d|{_MONTH})"
    r"|\s+(?:the\s+(?:day|night|week|morning|evening)\s+(?:prior|before)|the\s+(?:previous|prior)\s+\w+"
    r"|earlier\s+that\s+\w+|yesterday|\d+\s+(?:days?|weeks?|months?|years?)\s+(?:ago|prior|earlier|before))\b",
    re.I,
)


def _phrase(text: str, start: int, end: int) -> Span:
    """The mechanism from ``start``: to its sentence's end or what the injury caused."""
    sentence = _SENTENCE_END.search(text, start, end)
    stop = sentence.start() if sentence else end
    cause = _DIAGNOSIS_FIRST.match(text, start, stop)
    start = cause.end() if cause else start
    cut = _MECHANISM_STOP.search(text, start, stop)
    return trimmed(text, (start, cut.start() if cut else stop))


def _injury_before(text: str, floor: int, at: int) -> bool:
    """Whether the sentence names the injury shortly before ``at`` (not "the injured worker"),
    and nothing between says the clause is what aggravates the pain."""
    lo = max(floor, at - _INJURY_REACH)
    breaks = [m.end() for m in re.finditer(r"[.;]\s", text[lo:at])]
    injury = _INJURY.search(text, lo + (breaks[-1] if breaks else 0), at)
    return injury is not None and not _AGGRAVATED.search(text, injury.end(), at)


def _clauses(text: str, start: int, end: int) -> list[Span]:
    """Every clause of the summary that states how the injury happened, by where it starts."""
    tied = (m.end() for m in _TIED.finditer(text, start, end) if _injury_before(text, start, m.start()))
    own = (m.end() for m in _OWN_CLAUSE.finditer(text, start, end) if not _AGGRAVATED.search(m.group()))
    phrases = [_phrase(text, at, end) for at in (*tied, *own) if not _NOT_A_MECHANISM.match(text, at, end)]
    return sorted([*phrases, *(m.span() for m in _CUMULATIVE.finditer(text, start, end))])


def _doing_after_feeling(text: str, start: int, end: int) -> int | None:
    """Where the stated mechanism starts: at ``start``, or, when it opens on what the worker
    felt, at what he was doing in the same sentence (None when the sentence does not say)."""
    if not _FELT_FIRST.match(text, start, end):
        return start
    sentence = _SENTENCE_END.search(text, start, end)
    doing = _DOING.search(text, start, sentence.start() if sentence else end)
    return doing.end() if doing else None


def mechanism_statement(text: str, summary: Span) -> bool:
    """Whether the summary names its mechanism outright ("The mechanism of injury was ...")."""
    return _MECHANISM_STATED.search(text, *summary) is not None


def mechanism_clauses(text: str, summary: Span) -> list[str]:
    """Every distinct clause of the summary that says how the injury happened, in order: more
    than one is a choice the rules made (they read the first)."""
    values = (_value(text, span) for span in _clauses(text, *summary))
    return list(dict.fromkeys(value for value in values if value))


def extract_mechanism(text: str, summary: Span, evidence: Evidence) -> tuple[str | None, Reading]:
    """How the injury happened, as a short phrase, from the summary's first statement of it."""
    start, end = summary
    stated = _MECHANISM_STATED.search(text, start, end)
    if stated is not None:
        if stated.group("none") or _MECHANISM_UNKNOWN.match(text, stated.end(), end):
            return None, Reading(True)
        at = _doing_after_feeling(text, stated.end(), end)
        if at is None:
            return None, Reading(False, "not read: the mechanism stated is what the worker felt")
        span: Span | None = _phrase(text, at, end)
    else:
        span = next(iter(_clauses(text, start, end)), None)
    if span is None:
        return None, Reading(True)
    value = _value(text, span)
    if not value:
        return None, Reading(False, "not read: the summary states a mechanism the rules could not cut")
    evidence.add(path("patient", "mechanism_of_injury"), span)
    return value, Reading(True)
