"""Body regions a case summary or a request names, in the contract's fixed vocabulary.

Both passes read regions through this, as they read dates through :mod:`extractor.normalize`:
the rules pass from the letter, the LLM pass from the diagnoses the model copied, so a region
is one value whichever pass found its words.

The words are data (regions.toml). A region takes the side written before it ("left knee",
"bilateral shoulders") and a side carries over a list joined by "and" or commas ("right wrist
and hand"); regions that have no side (the spine, the head, the psyche) never take one. Each
region is listed once, in the order first named; named again with the other side, it is
``bilateral``.

An item whose request names no region takes the regions its rationale names as what the request
is for ("the request for physical therapy for the neck"), never those of a guideline quote or
of the patient's history: no region is better than a wrong one.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files

from extractor.schemas import BodyRegion, Region, Side, Span

_SIDES: dict[str, Side] = {
    "left": "left", "right": "right", "lt": "left", "rt": "right",
    "bilateral": "bilateral", "bilaterally": "bilateral", "both": "bilateral",
}  # fmt: skip
# What may stand between a side and the region it qualifies: "right wrist and hand", "left
# index finger", "both upper and lower extremities".
_BETWEEN = re.compile(
    r"\s*(?:\s*(?:,|and|&|/|the|of|index|middle|ring|little|distal|proximal|upper|lower)\s*)*$", re.I
)


@dataclass(frozen=True)
class _Vocabulary:
    pattern: re.Pattern[str]
    regions: dict[str, tuple[Region, Side | None]]
    """A matched term (lower-case), or a regular expression's group name, to its region (and
    its side, for a term that carries one)."""
    sided: frozenset[Region]


@functools.cache
def _vocabulary() -> _Vocabulary:
    data = tomllib.loads(files("extractor").joinpath("regions.toml").read_text(encoding="utf-8"))
    terms: list[tuple[str, Region, Side | None]] = [
        (term, Region(region), None) for region, words in data["terms"].items() for term in words
    ]
    terms += [
        (term, Region(region), side)
        for region, words in data["sided_terms"].items()
        for term, side in words.items()
    ]
    regions: dict[str, tuple[Region, Side | None]] = {}
    alternatives: list[tuple[int, str, str]] = []
    for index, (term, region, side) in enumerate(terms):
        if not term[:1].isascii() or not term[:1].isalpha():
            raise ValueError(f"region term {term!r} must begin with a letter")
        name = f"t{index}"
        regions[name] = (region, side)
        body = term if "[" in term else r"\s+".join(map(re.escape, term.split()))
        alternatives.append((len(term), term[0].lower(), rf"(?P<{name}>{body})"))
    pattern = re.compile(r"(?<![\w-])(?:" + _by_first_letter(alternatives) + r")(?![\w-])", re.I)
    return _Vocabulary(pattern, regions, frozenset(Region(name) for name in data["sided"]))


def _by_first_letter(alternatives: list[tuple[int, str, str]]) -> str:
    """The alternation of (length, first letter, body), longest first, as one branch per first
    letter: a word start tries the terms its letter begins (in the same order), not all ~140."""
    branches: dict[str, list[str]] = {}
    for _, first, body in sorted(alternatives, key=lambda alternative: -alternative[0]):
        branches.setdefault(first, []).append(body)
    return "|".join(f"(?={first})(?:{'|'.join(bodies)})" for first, bodies in sorted(branches.items()))


_SIDE_WORD = re.compile(r"(?<!\w)(" + "|".join(_SIDES) + r")(?!\w)", re.I)


def _side_before(text: str, start: int, floor: int) -> Side | None:
    """The side written just before ``start``, over a list of other regions ("right wrist and")."""
    sides = list(_SIDE_WORD.finditer(text, floor, start))
    for match in reversed(sides):
        between = _vocabulary().pattern.sub("", text[match.end() : start])
        if _BETWEEN.fullmatch(between):
            return _SIDES[match.group(1).lower()]
        return None
    return None


def regions_in(text: str) -> list[BodyRegion]:
    """Every region ``text`` names, once each, in the order first named."""
    vocabulary = _vocabulary()
    found: dict[Region, Side | None] = {}
    floor = 0
    for match in vocabulary.pattern.finditer(text):
        region, side = vocabulary.regions[match.lastgroup or ""]
        if side is None and region in vocabulary.sided:
            side = _side_before(text, match.start(), floor)
        if region not in vocabulary.sided:
            side = None
        if region not in found or found[region] is None:
            found[region] = side
        elif side is not None and found[region] != side:
            found[region] = "bilateral"
    return [BodyRegion(region=region, side=side) for region, side in found.items()]


# "the request for X for the left knee", "the request is for X to the neck": from the word
# "request" to where its clause ends (a verb, a comma, the sentence's end).
_FOR_REQUEST = re.compile(
    r"\brequest(?:ed|s|ing)?(?:\s+(?:is|was)\s+for)?\b(?!\s+for\s+authori[sz]ation)(?P<place>[^.;,()]*?)"
    r"(?=\s+(?:is|are|was|were|has|have|had|would|will|does|do|did|can|cannot|could|should|may|must"
    r"|as|because|since|which|that|given|due|per|but|until|unless)\b|[.;,()]|$)",
    re.I,
)


def request_place(text: str, span: Span) -> Span | None:
    """The span of the first phrase in ``span`` (a rationale) that says where the request is
    for, or None when no sentence about the request names a region."""
    for match in _FOR_REQUEST.finditer(text, *span):
        if regions_in(match.group("place")):
            return match.span("place")
    return None
