"""Disputed items: heading, decision, both guideline paragraphs and the rationale.

The blocks and their labelled paragraphs come from the layout (extractor.layout.item_blocks,
item_paragraphs), which the LLM pass lays its item requests out with; this module reads each one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from extractor.drugs import medication
from extractor.layout import PARTIAL, ItemBlock, determined_sentences, item_paragraphs
from extractor.normalize import one_line
from extractor.regions import regions_in, request_place
from extractor.rules.categories import cited, classify
from extractor.rules.evidence import Evidence
from extractor.rules.guidelines import parse_guidelines
from extractor.rules.services import dependencies, service_date
from extractor.schemas import BodyRegion, Decision, Guideline, Item, Span

_NUMBERING = re.compile(r"^\(?\d{1,2}[.)]\s+")
_TRAILING_VERB = re.compile(r",?\s+(?:is|are)$")
# "Y was authorized by the Claims Administrator." or "The Claims Administrator authorized Y,
# leaving the original request IMR eligible."
_AUTHORIZED = re.compile(
    r"\boriginal\s+request\.\s+(?:(?P<a>.+?),?\s+(?:was|were)\s+authori[sz]ed\s+by\s+the\s+Claims\s+Administrator"
    r"|The\s+Claims\s+Administrator\s+authori[sz]ed\s+(?P<b>.+?)(?:,\s*leaving\b[^.]*)?)\.(?:\s|$)",
    re.S | re.I,
)


def split_request(heading: str) -> tuple[str, str | None, str | None]:
    """(request, original_request, authorized) from a heading, reading the partial-authorisation
    wording ("X was the original request. Y was authorized by the Claims Administrator. The
    remaining IMR eligible portion of the original request, Z is")."""
    heading = _NUMBERING.sub("", heading)
    partial = PARTIAL.match(heading)
    if partial:
        authorized = _AUTHORIZED.search(heading)
        granted = one_line(authorized.group("a") or authorized.group("b")) if authorized else None
        return one_line(partial.group("request")), one_line(partial.group("original")), granted
    return one_line(_TRAILING_VERB.sub("", heading) if "original request" in heading else heading), None, None


def _regions(text: str, heading: Span, request: str, rationale: Span | None) -> tuple[list[BodyRegion], Span]:
    """The regions the request names, else those its rationale names as what the request is for
    (shared/CONTRACT.md), with the span they were read from."""
    named = regions_in(request)
    place = request_place(text, rationale) if rationale and not named else None
    return (regions_in(text[place[0] : place[1]]), place) if place else (named, heading)


def _linked(items: list[Item], headings: list[Span], evidence: Evidence) -> list[Item]:
    """``items`` with the surgery each associated or post-operative item serves."""
    for index, served in enumerate(dependencies(items)):
        if served is not None:
            items[index].depends_on = served
            evidence.add_item(index, "depends_on", headings[index])
    return items


def determined_items(text: str, evidence: Evidence, reference: dt.date | None = None) -> list[Item]:
    """Items of the 2013 layout, each listed once even though the letter states them twice."""
    items: list[Item] = []
    headings: list[Span] = []
    for match in determined_sentences(text):
        index = len(items)
        request = one_line(match.group("request"))
        decision = Decision.UPHELD if match.group("negation") is not None else Decision.OVERTURNED
        served = service_date(request, reference)
        category = classify(request)
        item = Item(
            request=request,
            decision=decision,
            category=category,
            date_of_service=served,
            body_regions=regions_in(request),
            **medication(request, category)._asdict(),
        )
        items.append(item)
        headings.append(match.span("request"))
        for name in ("request", "category", "body_regions", "date_of_service", "drugs", "drug_class"):
            if getattr(item, name) not in (None, []):
                evidence.add_item(index, name, match.span("request"))
        evidence.add_item(index, "decision", (match.end("request"), match.end()))
    return _linked(items, headings, evidence)


def extract_items(
    text: str, blocks: Sequence[ItemBlock], evidence: Evidence, reference: dt.date | None = None
) -> list[Item]:
    """An item from each block of the decisions section (``extractor.layout.Layout.blocks``);
    ``reference`` (the decision date) places two-digit years."""
    items: list[Item] = []
    for index, block in enumerate(blocks):
        heading = text[block.heading[0] : block.heading[1]]
        request, original, authorized = split_request(heading)
        parts = {name: p.body for name, p in item_paragraphs(text, block.decision[1], block.end).items()}
        guidelines: dict[str, list[Guideline]] = {}
        for name in ("claims_administrator_guidelines", "reviewer_guidelines"):
            span = parts.get(name)
            guidelines[name] = parse_guidelines(one_line(text[span[0] : span[1]])) if span else []
            if span:
                evidence.add_item(index, name, span)
        rationale_span = parts.get("rationale")
        rationale = one_line(text[rationale_span[0] : rationale_span[1]]) if rationale_span else None
        regions, place = _regions(text, block.heading, request, rationale_span)
        category = classify(request, cited(guidelines.values()))
        items.append(
            Item(
                request=request,
                original_request=original,
                body_regions=regions,
                authorized=authorized,
                date_of_service=service_date(request, reference),
                decision=Decision(text[block.decision[0] : block.decision[1]]),
                category=category,
                **medication(request, category)._asdict(),
                claims_administrator_guidelines=guidelines["claims_administrator_guidelines"],
                reviewer_guidelines=guidelines["reviewer_guidelines"],
                rationale=rationale or None,
            )
        )
        evidence.add_item(index, "request", block.heading)
        evidence.add_item(index, "decision", block.decision)
        evidence.add_item(index, "category", block.heading)
        for name in ("original_request", "authorized", "date_of_service", "drugs", "drug_class"):
            if getattr(items[-1], name) not in (None, []):
                evidence.add_item(index, name, block.heading)
        if regions:
            evidence.add_item(index, "body_regions", place)
        if rationale_span:
            evidence.add_item(index, "rationale", rationale_span)
    return _linked(items, [block.heading for block in blocks], evidence)
