"""Where each value came from: field paths to character spans of the letter's text."""

from __future__ import annotations

from collections import defaultdict

Span = tuple[int, int]


class Evidence:
    """Collects spans per field path (``determination.items[0].decision``) as rules find them."""

    def __init__(self) -> None:
        self._spans: defaultdict[str, list[Span]] = defaultdict(list)

    def add(self, field: str, span: Span) -> None:
        if span[1] > span[0] and span not in self._spans[field]:
            self._spans[field].append(span)

    def as_dict(self) -> dict[str, list[Span]]:
        return {field: spans for field, spans in self._spans.items() if spans}
