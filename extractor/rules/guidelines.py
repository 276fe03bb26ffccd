"""Guideline paragraphs: each "... guideline:" paragraph of an item block to its citations.

A paragraph holds one "Decision based on ..." sentence per cited guideline (or none, in older
letters), or says the claims administrator cited nothing. Each sentence is read by the shared
citation grammar (:mod:`extractor.citations`).
"""

from __future__ import annotations

import re

from extractor.citations import BASED_ON, parse_citation, tidy
from extractor.schemas import Guideline

NO_CITATION = re.compile(r"did\s+not\s+cite\s+any\s+(?:medical\s+)?evidence", re.I)


def parse_guidelines(text: str) -> list[Guideline]:
    """All citations in one "... guideline:" paragraph (already joined to one line)."""
    if NO_CITATION.search(text):
        return [Guideline()]
    starts = [match.end() for match in BASED_ON.finditer(text)]
    if not starts:
        return parse_citation(text) if tidy(text) else []
    bounds = [*[match.start() for match in BASED_ON.finditer(text)][1:], len(text)]
    entries: list[Guideline] = []
    for start, end in zip(starts, bounds, strict=True):
        entries.extend(parse_citation(text[start:end]))
    return entries
