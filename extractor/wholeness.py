"""Is the document one whole letter?  A cut letter, or several letters in one file, is flagged.

Either still gives items, so nothing else would show it: a letter cut part-way through its
decisions gives fewer items (the last one without its rationale, or stopping mid-word), and
several letters in one file give one record holding every letter's items.  Each is a
record-level check with ``review: true``.

How IMR letters end, in all 63 the project has (50 PDFs, 5 seeds, 8 synthetic; 158 items):
the text stops at the end of a sentence, the last item block has its "Decision rationale:",
and every rationale ends by stating its verdict ("... is not medically necessary", "certified").
Each letter has one heading of each kind below, whatever its layout.
"""

from __future__ import annotations

import re

from extractor.fields import path
from extractor.layout import Layout, heading_count
from extractor.rules.case import CASE_NUMBER
from extractor.schemas import Check, CheckStatus

LETTER_HEADINGS = ("credentials", "summary", "decisions")
"""Headings every letter has once; a document with more of each holds several letters."""
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s*$")
_RATIONALE = re.compile(r"\brationale\s*:(?P<rationale>.*)", re.I | re.S)
_VERDICT = re.compile(
    r"\b(?:necessary|necessity|non-?certified|certified|certify)\b|medically\s+(?:reasonable|appropriate|indicated)",
    re.I,
)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
VERDICT_SENTENCES = 3
"""The verdict is in a rationale's last sentence in every real letter (its last three in the
project's hand-written ones); earlier sentences often quote guidelines with the same words."""
_NAMED = 10
"""Case numbers named in a note, at most (a file of a hundred letters names ten and counts the rest)."""


def wholeness_checks(text: str, layout: Layout, status: CheckStatus) -> list[Check]:
    """A flagged check for a letter that looks cut off, and one for several letters in one file."""
    notes = [note for note in (cut_off(text, layout), several_letters(text)) if note is not None]
    return [Check(field=path(), status=status, review=True, note=note) for note in notes]


def cut_off(text: str, layout: Layout) -> str | None:
    """Why the letter looks cut off before its end, or None when it ends as letters do."""
    if not _SENTENCE_END.search(text):
        return "the letter looks cut off: its text stops mid-sentence"
    blocks = layout.blocks if "decisions" in layout.sections.parts else ()
    if not blocks:  # a layout whose items the blocks do not find: the sentence test alone
        return None
    last = blocks[-1]
    rationale = _RATIONALE.search(text, last.decision[1], last.end)
    if rationale is None:
        return "the letter looks cut off: its last item has no decision rationale"
    sentences = _SENTENCE_BREAK.split(rationale.group("rationale").strip())
    if not _VERDICT.search(" ".join(sentences[-VERDICT_SENTENCES:])):
        return "the letter looks cut off: its last item's rationale stops before its verdict"
    return None


def several_letters(text: str) -> str | None:
    """A note naming the letters found when the document holds more than one, else None."""
    letters = min(heading_count(text, name) for name in LETTER_HEADINGS)
    if letters < 2:
        return None
    numbers = list(dict.fromkeys(match.group(1) for match in CASE_NUMBER.finditer(text)))
    more = f" and {len(numbers) - _NAMED} more" if len(numbers) > _NAMED else ""
    cases = f" (case numbers {', '.join(numbers[:_NAMED])}{more})" if numbers else ""
    return f"{letters} letters in one document{cases}: the items are all of theirs; extract each letter alone"
