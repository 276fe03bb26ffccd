"""ICD-10-CM codes for diagnoses as letters write them, from the CDC's tabular list.

The code set is the one ``simple-icd-10-cm`` ships offline (the CDC/NCHS tabular list, public
domain). A diagnosis gets at most one code, found in this order (:class:`Coding` records which):

1. ``title``: its words, case and punctuation aside, are a code's title;
2. ``inclusion``: they are one of a code's inclusion terms ("Anxiety NOS");
3. ``fuzzy``: the best title or inclusion term by rapidfuzz's token-set ratio, scored on the
   diagnosis as written and as rewritten to the code set's words (icd_terms.toml), at or above
   :data:`SCORE_FLOOR`, naming no side the diagnosis does not name; ties go to the closest
   wording, so a diagnosis that names no side gets the code that names none.

A diagnosis is left uncoded (``None``) when it is uncertain or past ("possible", "rule out",
"history of", "status post"), when it names more than one body region and no entry holds all
its words (one code cannot hold two sites), or when nothing scores past the floor. A remark in
parentheses is left out of the match.

Injury codes (chapters S and T) take a 7th (encounter) character only where the diagnosis says
which encounter it is ("initial", "subsequent", "sequela"); otherwise the code stops before it
(evals/LABELLING.md). Every code returned is an entry of the tabular list.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable
from importlib.resources import files
from typing import Any, NamedTuple, cast

from rapidfuzz import fuzz, process

from extractor import codeset
from extractor.codeset import key
from extractor.regions import regions_in
from extractor.schemas import DiagnosisCoding, Patient
from extractor.schemas.record import CodingMethod

SCORE_FLOOR = 90.0
"""The lowest token-set ratio (0-100) a fuzzy match is kept at. The ratio is 100 when every
word of one side is in the other; 90 still lets a word written a little differently through
("strain of the calcaneofibular ligament" for the code set's sprain scores 97.7) and keeps out
a match that shares only some of the words. Not tuned beyond the labelled letters."""

_SIDE_WORDS = frozenset({"left", "right", "bilateral"})
_FREE_WORDS = frozenset(
    {"unspecified", "site", "part", "region", "level"}
)  # an entry may add them: they state nothing
_UNCERTAIN = re.compile(
    r"\b(?:possible|probable|suspected|rule\s+out|r/o|history\s+of|status\s+post|s/p)\b", re.I
)
_ENCOUNTER = re.compile(r",?\s*\b(initial|subsequent|sequela)\b(?:\s+encounter)?", re.I)
_ASIDE = re.compile(r"\s*\([^)]*\)")  # "radiculopathy, cervical region (right arm)"
_LEVELS = re.compile(r"\s*\b(?:at\s+)?[CTLS]\d(?:\s*-\s*[CTLS]?\d)?\b", re.I)  # "at L4-5"
_WITHOUT = re.compile(r"\s+without\b.*", re.I | re.S)  # what a diagnosis is not
_EXTENSION_AT = 7  # characters of a code without its dot before the encounter character


@functools.cache
def _code_set() -> Any:
    """simple_icd_10_cm, imported on first use: importing it parses the whole tabular list
    (about 3 s). Coding reads the index in extractor.codeset instead; only the analyst layer's
    chapters and titles need this."""
    import simple_icd_10_cm

    return simple_icd_10_cm


class Coding(NamedTuple):
    """One diagnosis's code (or ``None``) and how it was found."""

    code: str | None
    how: DiagnosisCoding


NOT_CODED = Coding(None, DiagnosisCoding(method="none", score=0.0))


def _found(code: str, method: CodingMethod, score: float, matched: str) -> Coding:
    return Coding(code, DiagnosisCoding(method=method, score=round(score, 1), matched=matched))


@functools.cache
def _rewrites(table: str) -> tuple[re.Pattern[str], dict[str, str]]:
    """One pattern of every phrase of a table of icd_terms.toml (longest first) and what each
    becomes."""
    data = tomllib.loads(files("extractor").joinpath("icd_terms.toml").read_text(encoding="utf-8"))
    phrases: dict[str, str] = {a.lower(): b for a, b in data[table].items()}
    alternatives = "|".join(re.escape(a) for a in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})(?!\w)", re.I), phrases


def rewritten(text: str, table: str) -> str:
    """``text`` with each phrase of ``table`` (``terms`` or ``places``) in the code set's words."""
    pattern, phrases = _rewrites(table)
    return pattern.sub(lambda match: phrases[match.group(0).lower()], text)


def variants(text: str) -> list[str]:
    """The keys a diagnosis is matched by: as written, in the code set's terms, and with its
    places in the code set's words too ("lumbar strain" is a strain "of lower back")."""
    terms = _LEVELS.sub("", rewritten(_WITHOUT.sub("", text), "terms"))
    return list(dict.fromkeys(key(variant) for variant in (text, terms, rewritten(terms, "places"))))


def _sides(words: set[str]) -> set[str]:
    return words & _SIDE_WORDS


class _Match(NamedTuple):
    score: float
    covers: bool
    """The entry holds every word of the diagnosis."""
    sides: bool
    """The entry names the sides the diagnosis names."""
    closeness: tuple[int, int, float]
    """Fewer words the diagnosis does not state ("unspecified" aside), more of the words it
    does, then the closer wording."""
    at: int


_SLACK = 1.0
"""Points below the floor a candidate is still scored at: the bounds are exact, floating point is not."""


def _joined(lengths: Iterable[int]) -> int:
    """The length of words of ``lengths`` joined by single spaces, as rapidfuzz's token ratios
    join them."""
    lengths = list(lengths)
    return sum(lengths) + len(lengths) - 1 if lengths else 0


def _bounds(sect: int, ab: int, share: float) -> tuple[int, float, float, float] | None:
    """None when the shared words alone reach the floor (see _near); else ``sect`` and the
    lengths of BA that may: at most the first, or between the other two."""
    if not ab or 1 + ab <= share * (2 * sect + 1 + ab):
        return None
    return (
        sect,
        (share * (2 * sect + 1) - 1) / (1 - share),
        (ab * (1 - share) - 2 * share * (sect + 1)) / (1 + share),
        (ab * (1 + share) + 2 * share * (sect + 1)) / (1 - share),
    )


def _near(words: set[str]) -> list[int]:
    """The positions of the entries that share a word with ``words`` and can score at the floor.

    Scoring every entry that shares a word is thousands of comparisons per diagnosis ("right"
    is in ~9,000 entries), and rapidfuzz's token-set ratio rules most out by lengths alone.
    With I the shared words and AB, BA each side's others (each joined, as lengths), f the
    share of 100 below the floor: a side that holds the other scores 100; I against I+AB
    reaches the floor only when 1 + AB <= f (2 I + 1 + AB), I against I+BA only when
    1 + BA <= f (2 I + 1 + BA), and AB against BA (their distance is at least their
    difference in length) only when |AB - BA| <= f (2 I + 2 + AB + BA).  Only the entries
    one of those leaves possible are scored.
    """
    share = (100.0 - SCORE_FLOOR + _SLACK) / 100.0
    posted = codeset.postings(words)
    known = sorted(posted)
    unknown = [len(word) for word in words - set(posted)]
    lengths = codeset.key_lengths()
    kept: list[int] = []
    for mask, ats in _by_shared([posted[word] for word in known]).items():
        limits = _bounds(
            _joined(len(word) for bit, word in enumerate(known) if mask >> bit & 1),
            _joined([*(len(word) for bit, word in enumerate(known) if not mask >> bit & 1), *unknown]),
            share,
        )
        if limits is None:
            kept += ats
            continue
        sect, most, low, high = limits
        base = sect + 1  # an entry's BA is its length less this: the bounds on its length
        top, low, high = base + max(0, most), base + low, base + high
        kept += [at for at in ats if (length := lengths[at]) <= top or low <= length <= high]
    return sorted(kept)


def _by_shared(postings: list[frozenset[int]]) -> dict[int, frozenset[int]]:
    """The positions in ``postings`` grouped by which of them hold each (bit i: the i-th), by
    set operations: a common word is in thousands of entries, too many to take one by one."""
    groups: dict[int, frozenset[int]] = {}
    seen: frozenset[int] = frozenset()
    for bit, posting in enumerate(postings):
        refined: dict[int, frozenset[int]] = {}
        for mask, ats in groups.items():
            if both := ats & posting:
                refined[mask | 1 << bit] = both
            if rest := ats - posting:
                refined[mask] = rest
        if new := posting - seen:
            refined[1 << bit] = new
        seen |= posting
        groups = refined
    return groups


def _fuzzy(query: str) -> tuple[Coding, bool]:
    """The best title or inclusion term for ``query`` at or above the floor, naming no side it
    does not name, and whether it holds every word of ``query``."""
    best: _Match | None = None
    for variant in variants(query):
        words = set(variant.split())
        near = _near(words)
        choices = codeset.keys()
        found = process.extract(
            variant, [choices[at] for at in near], scorer=fuzz.token_set_ratio,
            score_cutoff=SCORE_FLOOR, limit=None,
        )  # fmt: skip
        for choice, score, at in found:
            theirs = set(choice.split())
            if not _sides(theirs) <= _sides(words):
                continue
            extra = len(theirs - words - _FREE_WORDS)
            closeness = (-extra, len(words & theirs), fuzz.token_sort_ratio(variant, choice))
            match = _Match(score, words <= theirs, _sides(theirs) == _sides(words), closeness, -near[at])
            best = match if best is None or match > best else best
    if best is None:
        return NOT_CODED, False
    code, text = codeset.entry(-best.at)
    return _found(code, "fuzzy", best.score, text), best.covers


def _with_encounter(code: str, encounter: str | None) -> str:
    """``code`` with the 7th character the stated encounter gives it, where the code takes one
    and is deep enough to; otherwise ``code`` as it is."""
    if encounter is None:
        return code
    meanings = codeset.seven_character(code)
    character = next((c for c, m in meanings.items() if m.lower().startswith(encounter)), None)
    if character is None:
        return code
    bare = code.replace(".", "").ljust(_EXTENSION_AT - 1, "X") + character
    extended = f"{bare[:3]}.{bare[3:]}"
    return extended if codeset.is_valid(extended) else code


@functools.cache
def code_diagnosis(diagnosis: str) -> Coding:
    """The ICD-10-CM code of one diagnosis as written (see the module docstring)."""
    if _UNCERTAIN.search(diagnosis):
        return NOT_CODED
    stated = _ENCOUNTER.search(diagnosis)
    encounter = stated.group(1).lower() if stated else None
    base = _ENCOUNTER.sub("", _ASIDE.sub("", diagnosis))
    found = codeset.exact(key(base))
    if found is not None:
        coding = _found(found[0], cast(CodingMethod, found[1]), 100.0, found[2])
    else:
        coding, covers = _fuzzy(base)
        if len(regions_in(base)) > 1 and not covers:
            return NOT_CODED
    if coding.code is None:
        return NOT_CODED
    return coding._replace(code=_with_encounter(coding.code, encounter))


def coded(patient: Patient) -> Patient:
    """``patient`` with one code per diagnosis, and how each was found (both passes, and the
    hybrid's merged diagnoses, code through this)."""
    codings = [code_diagnosis(diagnosis) for diagnosis in patient.diagnoses]
    return patient.model_copy(
        update={
            "diagnosis_codes": [coding.code for coding in codings],
            "diagnosis_coding": [coding.how for coding in codings],
        }
    )


def category(code: str) -> str:
    """The three-character category of a code (``S40.011D`` is ``S40``)."""
    return code[:3]


def chapter(code: str) -> str:
    """The title of a code's chapter ("Injury, poisoning and certain other consequences ...")."""
    return str(_code_set().get_description(_code_set().get_ancestors(code)[-1]))


def title(code: str) -> str:
    """The code set's title of a code."""
    return str(_code_set().get_description(code))


def is_valid(code: str) -> bool:
    """``code`` is an entry of the shipped code set."""
    return codeset.is_valid(code)


def known_wording(text: str) -> list[tuple[int, int]]:
    """The spans of ``text`` that are a title or inclusion term written with a comma ("Strain of
    muscle, fascia and tendon at neck level"): a diagnosis list is never cut inside one."""
    lowered = re.sub(r"\s", " ", text.lower())  # same length, so spans stay the text's
    words = list(re.finditer(r"[a-z0-9][\w'()-]*", lowered))
    wordings = codeset.comma_wordings(word.group(0) for word in words)
    spans: list[tuple[int, int]] = []
    for word in words:
        for wording in wordings.get(word.group(0), ()):
            end = word.start() + len(wording)
            if lowered.startswith(wording, word.start()) and not lowered[end : end + 1].isalnum():
                spans.append((word.start(), end))
    return spans
