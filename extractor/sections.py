"""Cutting a letter into its sections by their headings.

Letters from different years use different headings for the same part (the reviewer's
credentials, the case summary, the decisions); this table maps each to one name so the
rules never care which layout they read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Span = tuple[int, int]

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
    return Sections(header=(0, header_end), parts=parts)
