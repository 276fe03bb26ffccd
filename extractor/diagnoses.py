"""How a list of diagnoses divides into one diagnosis per entry, for both passes.

The rule is evals/LABELLING.md's: split on commas (semicolons when the list uses them) and the
final "and", keeping together what is one diagnosis written with commas ("strain of muscle,
fascia and tendon", "..., subsequent encounter") or with a shared noun ("cervical and lumbar
spine strain", "neck, back and shoulder pain").

The rules pass divides the list a summary states (:func:`split_diagnoses`); the LLM pass
re-divides the list the model wrote (:func:`regroup`), so that an entry is one diagnosis
whichever pass found its words, and the cross-check compares diagnoses, not how they were cut.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from extractor.icd import known_wording
from extractor.schemas import Span

# Words that name where, not what: a list entry of one of them shares the next entry's noun
# ("neck, back and shoulder pain"), and "and" between two of them joins, not splits.
LOCATIONS = frozenset(
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
TRIM = " \t\n\"'.,;:"


def trimmed(text: str, span: Span) -> Span:
    start, end = span
    while start < end and text[start] in TRIM:
        start += 1
    while end > start and text[end - 1] in TRIM:
        end -= 1
    article = _ARTICLE.match(text, start, end)
    return (article.end() if article else start, end)


def _words(text: str, span: Span) -> list[str]:
    return re.findall(r"[A-Za-z][\w'-]*", text[span[0] : span[1]])


def _inside(index: int, kept: Sequence[Span]) -> bool:
    return any(start < index < end for start, end in kept)


def _top_level(text: str, span: Span, separator: str, kept: Sequence[Span]) -> list[Span]:
    """``span`` cut at each ``separator`` outside parentheses and the ``kept`` spans."""
    parts: list[Span] = []
    depth, start = 0, span[0]
    for index in range(span[0], span[1]):
        char = text[index]
        depth += (char == "(") - (char == ")")
        if char == separator and depth <= 0 and not _inside(index, kept):
            parts.append((start, index))
            start = index + 1
    parts.append((start, span[1]))
    return [piece for part in parts if (piece := trimmed(text, part))[1] > piece[0]]


def _joins_places(text: str, left: Span, right: Span) -> bool:
    """``left and right`` shares one noun ("cervical and lumbar spine strain") or names one place
    ("contusion of the lower back and pelvis"): one side is nothing but places."""
    before = [w.lower() for w in _words(text, left)]
    after = [w.lower() for w in _words(text, right) if w.lower() not in _ENCOUNTER]
    return all(w in LOCATIONS for w in before) or all(w in LOCATIONS for w in after)


def _split_last(text: str, span: Span, kept: Sequence[Span]) -> list[Span]:
    """The list's last entry, cut at its first "and" that starts a new diagnosis (not one that
    goes on with ICD wording: "fascia and tendon", nor one inside the ``kept`` spans)."""
    found = re.finditer(r"\s+and\s+", text[span[0] : span[1]])
    ands = [match for match in found if not _inside(span[0] + match.start(), kept)]
    for index, match in enumerate(ands):
        left = (span[0], span[0] + match.start())
        right = (span[0] + match.end(), span[1])
        upto_next = (right[0], span[0] + ands[index + 1].start()) if index + 1 < len(ands) else right
        if not _joins_places(text, left, upto_next) and not _CONTINUES.match(text, *right):
            return [trimmed(text, left), trimmed(text, right)]
    return [span]


def _grouped(text: str, span: Span, separator: str, kept: Sequence[Span]) -> list[Span]:
    """The list cut at ``separator``, with what continues an entry joined to it and a run of bare
    places joined to the entry whose noun they share."""
    entries: list[Span] = []
    for part in _top_level(text, span, separator, kept):
        if entries and _CONTINUES.match(text, part[0], part[1]):
            entries[-1] = (entries[-1][0], part[1])
        else:
            entries.append(part)
    merged: list[Span] = []
    pending: int | None = None  # start of a run of bare places that shares the next entry's noun
    for part in entries:
        words = _words(text, part)
        if len(words) == 1 and words[0].lower() in LOCATIONS and part is not entries[-1]:
            pending = part[0] if pending is None else pending
            continue
        merged.append((pending, part[1]) if pending is not None else part)
        pending = None
    return merged


def split_diagnoses(text: str, span: Span) -> list[Span]:
    """One span per diagnosis in the list at ``span`` (see the module docstring); a comma or
    "and" inside an ICD-10-CM title or inclusion term written with a comma never cuts it."""
    kept = [(span[0] + start, span[0] + end) for start, end in known_wording(text[span[0] : span[1]])]
    merged = _grouped(text, span, ";" if ";" in text[span[0] : span[1]] else ",", kept)
    if not merged:
        return []
    last = merged.pop()
    oxford = re.match(r"and\s+", text[last[0] : last[1]])
    if oxford:
        merged.append((last[0] + oxford.end(), last[1]))
    else:
        merged.extend(_split_last(text, last, kept))
    return [part for part in merged if part[1] > part[0]]


def regroup(entries: Sequence[str]) -> list[str]:
    """A model's diagnoses divided by the same rule, as if it had written them as one list:
    entries it cut inside one diagnosis ("strain of muscle", "fascia and tendon at neck level")
    are joined again, and a last entry that runs two together ("strain of knee and shoulder
    strain") is cut at its "and"."""
    text = ", ".join(" ".join(entry.split()) for entry in entries if entry.strip())
    return [text[start:end] for start, end in split_diagnoses(text, (0, len(text)))]
