"""Where each value came from: character spans of the letter's text, per field.

An item's spans are kept with the item (by its index in the rules pass), not under a path
with its position in it: the merge may place the item elsewhere, and its evidence goes with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from extractor.fields import path
from extractor.schemas import Span

Spans = dict[str, list[Span]]


def _add(spans: defaultdict[str, list[Span]], key: str, span: Span) -> None:
    if span[1] > span[0] and span not in spans[key]:
        spans[key].append(span)


class Evidence:
    """Collects spans as the rules find them: per field path, and per item and item field."""

    def __init__(self) -> None:
        self._fields: defaultdict[str, list[Span]] = defaultdict(list)
        self._items: defaultdict[int, defaultdict[str, list[Span]]] = defaultdict(lambda: defaultdict(list))

    def add(self, field: str, span: Span) -> None:
        """A span for a field outside the items (a path from extractor.fields.path)."""
        _add(self._fields, field, span)

    def add_item(self, index: int, name: str, span: Span) -> None:
        """A span for field ``name`` of the rules pass's item ``index``."""
        _add(self._items[index], name, span)

    def fields(self) -> Spans:
        return {field: spans for field, spans in self._fields.items() if spans}

    def items(self, count: int) -> list[Spans]:
        """Each of ``count`` items' spans by field name."""
        return [{name: spans for name, spans in self._items[i].items() if spans} for i in range(count)]


def record_evidence(fields: Spans, items: Sequence[Spans]) -> Spans:
    """A record's evidence: ``fields``, then each item's spans under ``items[k]``."""
    evidence = dict(fields)
    for position, spans_of in enumerate(items):
        for name, spans in spans_of.items():
            evidence[path("items", position, name)] = spans
    return evidence
