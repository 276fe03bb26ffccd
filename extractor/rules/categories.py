"""A deterministic item classifier that decides by what the item *is*: its head service.

A heading names one service and then qualifies it ("Right knee MRI without contrast", "Twelve
sessions of physical therapy for the low back", "Shoulder arthroscopy with evaluation of the
labrum"). The head is the last service term of the first phrase that names one, phrases being cut
at commas, brackets and linking words ("for", "with", "of", "x", ...). So a quantity, a body part,
a frequency or a term inside a longer one ("release" in "myofascial release") never decides. The
guideline sections each side cites for the item are more evidence. The vocabulary is data
(categories.toml, and every drug name of extractor/drugs.toml); conventions are in
evals/LABELLING.md.

Every classification has a confidence; below ``THRESHOLD`` the rules pass says ``other`` and
``is_confident`` is false, so the hybrid lets the LLM decide and records a check.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from extractor.drugs import vocabulary as drug_vocabulary
from extractor.schemas import Category, Guideline

THRESHOLD = 0.45
# Evidence weights: a head service decides on its own; a generic head ("evaluation") or a hint
# ("by mouth", a strength) only when nothing contradicts it; one citation's section is a vote.
_SERVICE, _GENERIC, _HINT, _COUNT, _SECTION = 1.0, 0.6, 0.5, 0.25, 0.4
_HINT_CAP, _SECTION_CAP = 0.5, 0.8

_HEADS = ("service", "generic")
# Words after which a generic head's qualifier may come ("evaluation with a chiropractor").
_LINKS = frozenset({"with", "by", "for", "of", "from", "to"})
_BOUNDARY = re.compile(
    r"[,;:()\[\]+]|(?<!\S)(?:for|to|with|at|of|on|in|by|x|times|per|under|via|including|plus|and|or|"
    r"vs|versus|after|following|post|from|&|-)(?!\S)",
    re.I,
)
# A strength or dose ("10/325mg", "5%", "200 units") is a medication hint, and is masked so
# that "units" never reads as a device.
_DOSE = re.compile(
    r"(?<![\w.])\d+(?:\.\d+)?(?:\s*[/-]\s*\d+(?:\.\d+)?)*\s*"
    r"(?:mg|mcg|µg|g|gm|gms|grams?|ml|cc|units?|iu|meq|%)(?![a-z])",
    re.I,
)
_DOSE_MARK = "⟨dose⟩"
_PILL_COUNT = re.compile(r"#\s*\d+")


@dataclass(frozen=True)
class Classification:
    """A category, how sure the evidence makes it (0 to 1), and the category that came second
    (None when nothing else had any evidence): a near tie is a doubt a reviewer should see."""

    category: Category
    confidence: float
    runner_up: Category | None = None


@dataclass(frozen=True)
class _Match:
    start: int
    end: int
    category: Category
    kind: str  # "service", "generic" or "hint"
    explicit: bool = True  # False for a suffix match, which a listed term of the same span beats


@dataclass(frozen=True)
class _Clause:
    start: int
    end: int
    link: str  # the boundary that opens it ("" for the first)


@dataclass(frozen=True)
class _Finder:
    category: Category
    kind: str
    pattern: re.Pattern[str]
    explicit: bool = True

    def find(self, text: str) -> list[_Match]:
        """Every match, overlapping ones too ("traction unit" and "unit"): the patterns look ahead."""
        return [
            _Match(m.start(1), m.end(1), self.category, self.kind, self.explicit)
            for m in self.pattern.finditer(text)
        ]


@dataclass(frozen=True)
class _Lexicon:
    finders: tuple[_Finder, ...]
    exclusions: Mapping[Category, re.Pattern[str]]
    sections: tuple[_Finder, ...]
    absorbs_generic: frozenset[Category]
    governs: Mapping[Category, frozenset[Category]]


def _normal(text: str) -> str:
    """One spelling for matching: "w/" is "with", hyphens inside words are spaces, "/" stands apart."""
    text = re.sub(r"\bw/o\b", " without ", text, flags=re.I)
    text = re.sub(r"\bw/", " with ", text, flags=re.I)
    text = re.sub(r"\bs/p\b", " after ", text, flags=re.I)
    text = re.sub(r"(?<=\w)[-‐–]+(?=\w)", " ", text)
    return " ".join(text.replace("/", " / ").split())


def _phrase(phrase: str) -> str:
    """A phrase as a regex body: any spacing between words, an optional plural at the end."""
    words = [re.escape(word) for word in _normal(phrase).split()]
    last = words[-1]
    words[-1] = last[:-1] + "(?:y|ies)" if re.search(r"[^aeiou]y$", last) else last + "(?:e?s)?"
    return r"\s+".join(words)


def _alternation(phrases: Iterable[str], flags: int = re.I) -> re.Pattern[str] | None:
    bodies = sorted({_phrase(phrase) for phrase in phrases}, key=len, reverse=True)
    return re.compile(rf"(?<!\w)(?=({'|'.join(bodies)})(?!\w))", flags) if bodies else None


def _finders(category: Category, entry: Mapping[str, Any]) -> list[_Finder]:
    found = [
        _Finder(category, kind, pattern)
        for kind, phrases, flags in (
            ("service", entry.get("terms", []), re.I),
            ("service", entry.get("abbreviations", []), 0),
            ("hint", entry.get("hints", []), re.I),
        )
        if (pattern := _alternation(phrases, flags)) is not None
    ]
    if suffixes := entry.get("suffixes"):
        ends = "|".join(map(re.escape, suffixes))
        word = re.compile(rf"(?<!\w)(?=([a-z]{{3,}}(?:{ends})(?:e?s)?)(?!\w))", re.I)
        found.append(_Finder(category, "service", word, explicit=False))
    return found


@functools.cache
def _lexicon() -> _Lexicon:
    """The lexicon, compiled on first use (~0.1 s of regular expressions a command that
    classifies nothing, `extractor text` or `--help`, need not pay)."""
    data = tomllib.loads(files("extractor.rules").joinpath("categories.toml").read_text(encoding="utf-8"))
    generic = _alternation(data.pop("generic")["terms"])
    assert generic is not None
    finders = [_Finder(Category.CONSULTATION, "generic", generic)]
    exclusions: dict[Category, re.Pattern[str]] = {}
    sections: list[_Finder] = []
    # every drug the drug table names is a medication (one list of drugs, in extractor/drugs.toml)
    data["medication"]["terms"] += drug_vocabulary().products
    for name, entry in data.items():
        category = Category(name)
        finders += _finders(category, entry)
        if (excluded := _alternation(entry.get("exclusions", []))) is not None:
            exclusions[category] = excluded
        if (cited := _alternation(entry.get("sections", []))) is not None:
            sections.append(_Finder(category, "service", cited))
    return _Lexicon(
        finders=tuple(finders),
        exclusions=exclusions,
        sections=tuple(sections),
        absorbs_generic=frozenset(Category(n) for n, e in data.items() if e.get("absorbs_generic")),
        governs={Category(n): frozenset(map(Category, e.get("governs", []))) for n, e in data.items()},
    )


def _excluded(match: _Match, text: str) -> bool:
    pattern = _lexicon().exclusions.get(match.category)
    return pattern is not None and any(
        m.start(1) <= match.start and match.end <= m.end(1) for m in pattern.finditer(text)
    )


def _resolve(matches: Iterable[_Match]) -> list[_Match]:
    """Overlapping matches: the longest wins (a listed term over a suffix), in text order."""
    chosen: list[_Match] = []
    for match in sorted(matches, key=lambda m: (m.start - m.end, not m.explicit, m.start)):
        if all(match.end <= c.start or match.start >= c.end for c in chosen):
            chosen.append(match)
    return sorted(chosen, key=lambda m: m.start)


def _matches(text: str, finders: Iterable[_Finder]) -> list[_Match]:
    found = (match for finder in finders for match in finder.find(text))
    return _resolve(match for match in found if not _excluded(match, text))


def _clauses(text: str, matches: list[_Match]) -> list[_Clause]:
    """The heading cut at its boundaries, except those inside a term ("transfer of care")."""
    cuts = [
        cut
        for cut in _BOUNDARY.finditer(text)
        if not any(m.start <= cut.start() and cut.end() <= m.end for m in matches)
    ]
    starts = [(0, ""), *((cut.end(), cut.group().lower()) for cut in cuts)]
    ends = [cut.start() for cut in cuts] + [len(text)]
    return [_Clause(start, end, link) for (start, link), end in zip(starts, ends, strict=True)]


def _within(matches: list[_Match], clause: _Clause) -> list[_Match]:
    return [m for m in matches if m.kind in _HEADS and clause.start <= m.start < clause.end]


def _generic_head(heads: list[_Match], following: list[_Match]) -> tuple[Category, float]:
    """An evaluation, consult or follow-up belongs to the service qualifying it, if that service
    has evaluations of its own ("chiropractic evaluation"); otherwise it is a consultation."""
    qualifier = next((m for m in [*heads, *following] if m.category in _lexicon().absorbs_generic), None)
    return (qualifier.category, _SERVICE) if qualifier else (Category.CONSULTATION, _GENERIC)


def _head(matches: list[_Match], clauses: list[_Clause], text: str) -> tuple[Category, float] | None:
    """The category of the head service: the last term of the first clause that has one; a
    clause with only a strength ("Zorvolex 35mg #90") names a drug."""
    for index, clause in enumerate(clauses):
        heads = _within(matches, clause)
        if not heads:
            if _DOSE_MARK in text[clause.start : clause.end]:
                return Category.MEDICATION, _SERVICE
            continue
        last = heads[-1]
        if last.kind == "generic":
            after = clauses[index + 1] if index + 1 < len(clauses) else None
            following = _within(matches, after) if after and after.link in _LINKS else []
            return _generic_head(heads, following)
        governing = next((m for m in heads[:-1] if last.category in _lexicon().governs[m.category]), last)
        return governing.category, _SERVICE
    return None


def _hint_votes(matches: list[_Match], doses: int, pill_counts: int) -> dict[Category, float]:
    votes: dict[Category, float] = defaultdict(float)
    for match in matches:
        if match.kind == "hint":
            votes[match.category] += _HINT
    votes[Category.MEDICATION] += _HINT * doses + _COUNT * pill_counts
    return {category: min(_HINT_CAP, weight) for category, weight in votes.items() if weight}


def _section_votes(guidelines: Iterable[Guideline]) -> dict[Category, float]:
    """Each citation votes for the categories its title and sections name, split evenly."""
    votes: dict[Category, float] = defaultdict(float)
    for guideline in guidelines:
        named = _named_by(" ".join([guideline.title or "", *guideline.sections]))
        for category in named:
            votes[category] += _SECTION / len(named)
    return {category: min(_SECTION_CAP, weight) for category, weight in votes.items()}


@functools.lru_cache(maxsize=1024)
def _named_by(citation: str) -> frozenset[Category]:
    """The categories a citation's title and sections name: memoised, as _request is."""
    return frozenset(match.category for match in _matches(_normal(citation), _lexicon().sections))


@functools.lru_cache(maxsize=1024)
def _request(request: str) -> tuple[tuple[Category, float] | None, tuple[tuple[Category, float], ...]]:
    """A request's head and its hints' votes: memoised, as each item is classified several
    times (its category, its doubts, its confidence)."""
    doses = len(_DOSE.findall(request))
    text = _normal(_DOSE.sub(f" {_DOSE_MARK} ", request))
    matches = _matches(text, _lexicon().finders)
    hints = _hint_votes(matches, doses, len(_PILL_COUNT.findall(request)))
    return _head(matches, _clauses(text, matches), text), tuple(hints.items())


def classification(request: str, guidelines: Iterable[Guideline] = ()) -> Classification:
    """The category of a disputed item from its request text and, when given, the guidelines
    cited for it, with a confidence: the winner's evidence less half the runner-up's."""
    head, hints = _request(request)
    scores: dict[Category, float] = defaultdict(float)
    if head:
        scores[head[0]] += head[1]
    for category, weight in (*hints, *_section_votes(guidelines).items()):
        scores[category] += weight
    if not scores:
        return Classification(Category.OTHER, 0.0)
    ranked = sorted(scores.items(), key=lambda pair: -pair[1])  # stable: the head wins a tie
    runner_up, second = ranked[1] if len(ranked) > 1 else (None, 0.0)
    confidence = round(max(0.0, min(1.0, ranked[0][1]) - second / 2), 3)
    return Classification(ranked[0][0], confidence, runner_up)


def cited_category(guidelines: Iterable[Guideline]) -> Category | None:
    """The category the cited guidelines' titles and sections name most (None when they name none)."""
    votes = _section_votes(guidelines)
    return max(votes, key=lambda category: votes[category]) if votes else None


def classify(request: str, guidelines: Iterable[Guideline] = ()) -> Category:
    """The category of a disputed item; ``other`` when the evidence is below ``THRESHOLD``."""
    result = classification(request, guidelines)
    return result.category if result.confidence >= THRESHOLD else Category.OTHER


def cited(sides: Iterable[Iterable[Guideline]]) -> list[Guideline]:
    """Both sides' citations of one item, as the classifier weighs them (each side votes)."""
    return [guideline for side in sides for guideline in side]


def is_confident(request: str, guidelines: Iterable[Guideline] = ()) -> bool:
    """False when the category is a fallback the LLM should decide."""
    return classification(request, guidelines).confidence >= THRESHOLD
