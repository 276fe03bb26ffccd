"""Guideline paragraphs: each "... guideline:" paragraph of an item block to its citations.

A paragraph holds one "Decision based on ..." sentence per cited guideline (or none, in older
letters), or says the claims administrator cited nothing. Each sentence is read by the shared
citation grammar (:mod:`extractor.citations`).
"""

from __future__ import annotations

import re

from extractor.citations import BASED_ON, citation_sentences, parse_citation, tidy
from extractor.schemas import Guideline

NO_CITATION = re.compile(r"did\s+not\s+cite\s+any\s+(?:medical\s+)?evidence", re.I)


def parse_guidelines(text: str) -> list[Guideline]:
    """All citations in one "... guideline:" paragraph (already joined to one line)."""
    if NO_CITATION.search(text):
        return [Guideline()]
    sentences = citation_sentences(text)
    if not sentences:
        return parse_citation(text) if tidy(text) else []
    return [entry for sentence in sentences for entry in parse_citation(BASED_ON.sub("", sentence, count=1))]
