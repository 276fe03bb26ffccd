"""The layout of a letter: its sections, and the block of each disputed item in its decisions.

Both passes read a letter through its layout: the rules pass parses each part, the LLM pass
asks about each part. Letters from different years use different headings for the same part
(the reviewer's credentials, the case summary, the decisions); the table below maps each to
one name so that neither pass cares which layout it reads.

An item block is "<heading>: Upheld|Overturned" (the decision may wrap onto its own line), then
"Claims Administrator guideline:", "MAXIMUS guideline:" and "Decision rationale:".  A heading
starts on the line after the previous block's last sentence, which is how multi-line headings
(and the partial-authorisation sentences) are told apart from the rationale above them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from extractor.normalize import one_line
from extractor.schemas import Span

# Each heading is a line of its own, in capitals or in title case (2013 letters); the first
# match of any pattern for a name wins.
_HEADINGS: tuple[tuple[str, str], ...] = (
    ("credentials", r"HOW THE IMR FINAL DETERMINATION WAS MADE"),
    ("credentials", r"MEDICAL REVIEWER QUALIFICATIONS:?"),
    ("credentials", r"(?:EXPERT |PHYSICIAN )?REVIEWER(?:'S)? QUALIFICATIONS:?"),
    ("credentials", r"MEDICAL QUALIFICATIONS OF THE EXPERT REVIEWER:?"),
    ("documents", r"DOCUMENTS REVIEWED:?"),
    ("issues", r"ISSUES? AT DISPUTE:?"),
    ("summary", r"(?:CLINICAL )?CASE SUMMARY:?"),
    ("decisions", r"IMR ISSUES?,? DECISIONS? AND RATIONALES?:?"),
    ("decisions", r"IMR DECISION\(S\) AND RATIONALE\(S\):?"),
    ("decisions", r"(?:FINAL )?DETERMINATION(?:S)? AND RATIONALE(?:S)?:?"),
    ("decisions", r"(?:INDEPENDENT MEDICAL REVIEW|EXPERT REVIEWER'S) DECISIONS? AND RATIONALES?:?"),
)
_PATTERNS = [(name, re.compile(rf"^{pattern}[ \t]*$", re.M | re.I)) for name, pattern in _HEADINGS]


@dataclass(frozen=True)
class Sections:
    """Spans of the named parts of a letter; ``header`` is whatever precedes the first heading."""

    header: Span
    parts: dict[str, Span]
    headings: dict[str, int]
    """Where each part's heading line starts (its span starts after the heading)."""

    def get(self, name: str) -> Span | None:
        return self.header if name == "header" else self.parts.get(name)


def split_sections(text: str) -> Sections:
    starts: dict[str, tuple[int, int]] = {}
    for name, pattern in _PATTERNS:
        match = pattern.search(text)
        if match and (name not in starts or match.start() < starts[name][0]):
            starts[name] = (match.start(), match.end())
    ordered = sorted(starts.items(), key=lambda kv: kv[1][0])
    parts: dict[str, Span] = {}
    for index, (name, (_, body_start)) in enumerate(ordered):
        end = ordered[index + 1][1][0] if index + 1 < len(ordered) else len(text)
        parts[name] = (min(body_start + 1, end), end)
    header_end = ordered[0][1][0] if ordered else len(text)
    headings = {name: start for name, (start, _) in ordered}
    return Sections(header=(0, header_end), parts=parts, headings=headings)


def heading_count(text: str, name: str) -> int:
    """How many lines of ``text`` are a heading of ``name``: one in a letter, more in several."""
    return len({m.start() for part, pattern in _PATTERNS if part == name for m in pattern.finditer(text)})


# --------------------------------------------------------------------------- item blocks

_DECISION_AT_END = re.compile(r"(?P<before>.*?)[ \t]*\b(?P<decision>Upheld|Overturned)\.?[ \t]*")
_HEADING_STOP = re.compile(
    r"(?:[.!?][\"')\]]*|set forth below:?|guidelines?:.*|rationale:.*|Upheld\.?|Overturned\.?)$|"
    r"medically necessary|^(?:Claims Administrator|MAXIMUS|Decision rationale)",
    re.I,
)
_MAX_HEADING_LINES = 6
_MAX_PARTIAL_LINES = 20
"""A partial-authorisation heading (three sentences) may run longer than any other."""
PARTIAL = re.compile(
    r"^(?P<original>.+?),?\s+(?:was|were)\s+the\s+original\s+request\b.*?"
    r"\boriginal\s+request,\s*(?P<request>.+?)(?:,?\s+(?:is|are))?$",
    re.S | re.I,
)
# the wording after which a partial-authorisation heading goes on above: "... original request,"
_PARTIAL_TAIL = re.compile(r"\boriginal\s+request,", re.I)


@dataclass(frozen=True)
class ItemBlock:
    """Spans of one item: its heading (up to the colon), its decision word, and where it ends."""

    heading: Span
    decision: Span
    end: int


def _lines(text: str, section: Span) -> list[Span]:
    start, end = section
    return [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text[:end]) if m.start() >= start]


def _partial_continues(above: str, so_far: str) -> bool:
    """The heading is a partial-authorisation one still missing its "X was the original request"."""
    return bool(_PARTIAL_TAIL.search(f"{above} {so_far}")) and not PARTIAL.match(so_far)


def item_blocks(text: str, section: Span) -> list[ItemBlock]:
    """Find each decision line, then walk back over the lines that belong to its heading."""
    lines = _lines(text, section)
    found: list[tuple[Span, Span]] = []
    for index, (line_start, line_end) in enumerate(lines):
        tail = text[max(line_start, line_end - 12) : line_end]
        if "Upheld" not in tail and "Overturned" not in tail:
            continue
        match = _DECISION_AT_END.fullmatch(text, line_start, line_end)
        if match is None:
            continue
        before = match.group("before").rstrip()
        if before.endswith(":"):
            last, colon_at = index, line_start + len(before) - 1
        elif not before and index > 0:
            above_start, above_end = lines[index - 1]
            above = text[above_start:above_end].rstrip()
            if not above.endswith(":"):
                continue
            last, colon_at = index - 1, above_start + len(above) - 1
        else:
            continue
        first = last
        while first > 0 and last - first < _MAX_PARTIAL_LINES - 1:
            above = text[lines[first - 1][0] : lines[first - 1][1]]
            so_far = one_line(text[lines[first][0] : colon_at])
            if _HEADING_STOP.search(above) and not _partial_continues(above, so_far):
                break
            if last - first >= _MAX_HEADING_LINES - 1 and not _PARTIAL_TAIL.search(f"{above} {so_far}"):
                break
            first -= 1
        found.append(((lines[first][0], colon_at), match.span("decision")))
    return [
        ItemBlock(heading, decision, found[i + 1][0][0] if i + 1 < len(found) else section[1])
        for i, (heading, decision) in enumerate(found)
    ]


# The labelled paragraphs after an item's decision; a label starts its line.
_PARAGRAPH_LABELS = {
    "claims_administrator_guidelines": re.compile(
        r"^Claims\s+Administrator(?:'s)?\s+guidelines?(?:\(s\))?:", re.I | re.M
    ),
    "reviewer_guidelines": re.compile(
        r"^(?:MAXIMUS|Expert\s+Reviewer|Reviewer)(?:'s)?\s+guidelines?(?:\(s\))?:", re.I | re.M
    ),
    "rationale": re.compile(r"^Decision\s+rationale:", re.I | re.M),
}


@dataclass(frozen=True)
class Paragraph:
    """One labelled paragraph of an item block: where its label starts, and its text after it."""

    start: int
    body: Span


def item_paragraphs(text: str, start: int = 0, end: int | None = None) -> dict[str, Paragraph]:
    """The guideline paragraphs and the rationale found in ``text[start:end]``, by name; each runs
    to the next one (or ``end``)."""
    stop = len(text) if end is None else end
    marks = sorted(
        (match.start(), match.end(), name)
        for name, pattern in _PARAGRAPH_LABELS.items()
        if (match := pattern.search(text, start, stop))
    )
    return {
        name: Paragraph(label, (body, marks[index + 1][0] if index + 1 < len(marks) else stop))
        for index, (label, body, name) in enumerate(marks)
    }


# 2013 letters: "1) MAXIMUS Federal Services, Inc. has determined the request for X is not
# medically necessary and appropriate." (pdfium sometimes loses the space in "not medically").
_DETERMINED = re.compile(
    r"^\(?(?P<number>\d{1,2})[.)]\s+MAXIMUS\s+Federal\s+Services,?\s+Inc\.?\s+has\s+determined\s+the\s+"
    r"request\s+for\s+(?P<request>.+?)\s+(?:is|are)\s+(?P<negation>not\s*)?medically\s+necessary"
    r"(?:\s+and\s+appropriate)?\.",
    re.M | re.S | re.I,
)


def determined_sentences(text: str) -> list[re.Match[str]]:
    """The items of a 2013 letter, one sentence each: the first statement of each number (the
    letter states every decision twice)."""
    found: dict[str, re.Match[str]] = {}
    for match in _DETERMINED.finditer(text):
        found.setdefault(match.group("number"), match)
    return list(found.values())


@dataclass(frozen=True)
class Layout:
    """Where a letter's parts are: found once per letter and handed to every stage that reads it
    (the rules pass, the LLM pass's plan, the wholeness checks), so no stage splits it again."""

    sections: Sections
    blocks: tuple[ItemBlock, ...]
    """The item blocks of the decisions section (of the issues section when there is none)."""
    sentences: tuple[Span, ...]
    """A 2013 letter's determination sentences, one per item; empty when there are blocks."""

    @property
    def item_spans(self) -> list[Span]:
        """Where each disputed item is stated: its block, from its heading to the next one, else
        its determination sentence."""
        return [(block.heading[0], block.end) for block in self.blocks] or list(self.sentences)


def lay_out(text: str) -> Layout:
    """The sections of ``text`` and the place of each of its items."""
    sections = split_sections(text)
    decisions = sections.get("decisions") or sections.get("issues")
    blocks = tuple(item_blocks(text, decisions)) if decisions is not None else ()
    sentences = () if blocks else tuple(match.span() for match in determined_sentences(text))
    return Layout(sections, blocks, sentences)
