"""Disputed items: heading, decision, both guideline paragraphs and the rationale.

An item block is "<heading>: Upheld|Overturned" (the decision may wrap onto its own line), then
"Claims Administrator guideline:", "MAXIMUS guideline:" and "Decision rationale:".  A heading
starts on the line after the previous block's last sentence, which is how multi-line headings
(and the partial-authorisation sentences) are told apart from the rationale above them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from extractor.rules.categories import classify
from extractor.rules.evidence import Evidence, Span
from extractor.rules.guidelines import parse_guidelines
from schemas import Decision, Guideline, Item

_DECISION_AT_END = re.compile(r"(?P<before>.*?)[ \t]*\b(?P<decision>Upheld|Overturned)\.?[ \t]*")
_HEADING_STOP = re.compile(
    r"(?:[.!?][\"')\]]*|set forth below:?|guidelines?:.*|rationale:.*|Upheld\.?|Overturned\.?)$|"
    r"medically necessary|^(?:Claims Administrator|MAXIMUS|Decision rationale)",
    re.I,
)
_MAX_HEADING_LINES = 6
_PARTIAL = re.compile(
    r"^(?P<original>.+?),?\s+(?:was|were)\s+the\s+original\s+request\b.*?"
    r"\boriginal\s+request,\s*(?P<request>.+?),?\s+(?:is|are)$",
    re.S | re.I,
)
# 2013 letters: "1) MAXIMUS Federal Services, Inc. has determined the request for X is not
# medically necessary and appropriate." (pdfium sometimes loses the space in "not medically").
_DETERMINED = re.compile(
    r"^\(?(?P<number>\d{1,2})[.)]\s+MAXIMUS\s+Federal\s+Services,?\s+Inc\.?\s+has\s+determined\s+the\s+"
    r"request\s+for\s+(?P<request>.+?)\s+(?:is|are)\s+(?P<negation>not\s*)?medically\s+necessary"
    r"(?:\s+and\s+appropriate)?\.",
    re.M | re.S | re.I,
)
_PARTIAL_TAIL = re.compile(r"\boriginal\s+request,", re.I)
_NUMBERING = re.compile(r"^\(?\d{1,2}[.)]\s+")
_TRAILING_VERB = re.compile(r",?\s+(?:is|are)$")
_LABELS = {
    "claims_administrator_guidelines": re.compile(
        r"^Claims\s+Administrator(?:'s)?\s+guidelines?(?:\(s\))?:", re.I | re.M
    ),
    "reviewer_guidelines": re.compile(
        r"^(?:MAXIMUS|Expert\s+Reviewer|Reviewer)(?:'s)?\s+guidelines?(?:\(s\))?:", re.I | re.M
    ),
    "rationale": re.compile(r"^Decision\s+rationale:", re.I | re.M),
}


@dataclass(frozen=True)
class _Block:
    heading: Span
    decision: Span
    end: int


def _lines(text: str, section: Span) -> list[Span]:
    start, end = section
    return [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text[:end]) if m.start() >= start]


def _partial_continues(above: str, so_far: str) -> bool:
    """The heading is a partial-authorisation one still missing its "X was the original request"."""
    return bool(_PARTIAL_TAIL.search(f"{above} {so_far}")) and not _PARTIAL.match(so_far)


def _blocks(text: str, section: Span) -> list[_Block]:
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
        while first > 0 and last - first < _MAX_HEADING_LINES - 1:
            above = text[lines[first - 1][0] : lines[first - 1][1]]
            so_far = _one_line(text[lines[first][0] : colon_at])
            if _HEADING_STOP.search(above) and not _partial_continues(above, so_far):
                break
            first -= 1
        found.append(((lines[first][0], colon_at), match.span("decision")))
    return [
        _Block(heading, decision, found[i + 1][0][0] if i + 1 < len(found) else section[1])
        for i, (heading, decision) in enumerate(found)
    ]


def item_spans(text: str, decisions: Span) -> list[Span]:
    """Where each item block runs, from its heading to the next heading (or the section end)."""
    return [(block.heading[0], block.end) for block in _blocks(text, decisions)]


def _one_line(text: str) -> str:
    """Join wrapped lines with one space; a line broken after a hyphen or before ")" joins tight."""
    return " ".join(re.sub(r"(?<=-)\n|\n(?=\))", "", text).split())


def split_request(heading: str) -> tuple[str, str | None]:
    """(request, original_request) from a heading, reading the partial-authorisation wording."""
    heading = _NUMBERING.sub("", heading)
    partial = _PARTIAL.match(heading)
    if partial:
        return _one_line(partial.group("request")), _one_line(partial.group("original"))
    return _one_line(_TRAILING_VERB.sub("", heading) if "original request" in heading else heading), None


def _parts(text: str, start: int, end: int) -> dict[str, Span]:
    """Spans of the guideline paragraphs and rationale inside one block."""
    marks = sorted(
        (match.start(), match.end(), name)
        for name, pattern in _LABELS.items()
        if (match := pattern.search(text, start, end))
    )
    return {
        name: (body, marks[index + 1][0] if index + 1 < len(marks) else end)
        for index, (_, body, name) in enumerate(marks)
    }


def determined_items(text: str, evidence: Evidence) -> list[Item]:
    """Items of the 2013 layout, each listed once even though the letter states them twice."""
    items: list[Item] = []
    seen: set[str] = set()
    for match in _DETERMINED.finditer(text):
        if match.group("number") in seen:
            continue
        seen.add(match.group("number"))
        path = f"determination.items[{len(items)}]"
        request = _one_line(match.group("request"))
        decision = Decision.UPHELD if match.group("negation") is not None else Decision.OVERTURNED
        items.append(Item(request=request, decision=decision, category=classify(request)))
        evidence.add(f"{path}.request", match.span("request"))
        evidence.add(f"{path}.category", match.span("request"))
        evidence.add(f"{path}.decision", (match.end("request"), match.end()))
    return items


def extract_items(text: str, decisions: Span, evidence: Evidence) -> list[Item]:
    items = []
    for index, block in enumerate(_blocks(text, decisions)):
        path = f"determination.items[{index}]"
        heading = text[block.heading[0] : block.heading[1]]
        request, original = split_request(heading)
        parts = _parts(text, block.decision[1], block.end)
        guidelines: dict[str, list[Guideline]] = {}
        for name in ("claims_administrator_guidelines", "reviewer_guidelines"):
            span = parts.get(name)
            guidelines[name] = parse_guidelines(_one_line(text[span[0] : span[1]])) if span else []
            if span:
                evidence.add(f"{path}.{name}", span)
        rationale_span = parts.get("rationale")
        rationale = _one_line(text[rationale_span[0] : rationale_span[1]]) if rationale_span else None
        items.append(
            Item(
                request=request,
                original_request=original,
                decision=Decision(text[block.decision[0] : block.decision[1]]),
                category=classify(request),
                claims_administrator_guidelines=guidelines["claims_administrator_guidelines"],
                reviewer_guidelines=guidelines["reviewer_guidelines"],
                rationale=rationale or None,
            )
        )
        evidence.add(f"{path}.request", block.heading)
        evidence.add(f"{path}.decision", block.decision)
        evidence.add(f"{path}.category", block.heading)
        if rationale_span:
            evidence.add(f"{path}.rationale", rationale_span)
    return items
