"""Which parts of a letter the LLM pass is asked about: the header, the case summary, each item.

Hybrid asks only where the rules pass doubts (``doubtful``, the default): the header when a
value of it is below the review threshold or was not read, the summary when a patient value is,
and each item block that holds such a value. A letter the rules read with confidence costs no
request. ``all`` asks about every part (today's hybrid before selective asking: kept for
evaluation and recording).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from extractor.confidence import THRESHOLD
from extractor.fields import ITEMS, FieldPath

Scope = Literal["doubtful", "all"]
SCOPES: tuple[Scope, ...] = ("doubtful", "all")


@dataclass(frozen=True)
class Asked:
    """The parts one letter's LLM pass asks about; ``items`` None is every item block."""

    header: bool = True
    summary: bool = True
    items: frozenset[int] | None = None

    @property
    def anything(self) -> bool:
        """Whether any part is asked about at all."""
        return self.header or self.summary or self.items is None or bool(self.items)

    def item(self, index: int) -> bool:
        return self.items is None or index in self.items

    def skipped(self, count: int) -> list[str]:
        """The parts not asked about, as the record's provenance names them."""
        parts = [name for name, asked in (("header", self.header), ("summary", self.summary)) if not asked]
        return parts + [FieldPath.of(ITEMS, index).relative for index in range(count) if not self.item(index)]


ALL = Asked()


def _part(where: str) -> str | int | None:
    """The part a value's path belongs to: "header", "summary" or an item's index."""
    parsed = FieldPath.parse(where)
    if parsed.section in ("case", "reviewer"):
        return "header"
    if parsed.section == "patient":
        return "summary"
    return parsed.item


def doubtful_parts(scores: Mapping[str, float], unread: Iterable[str], header: bool) -> Asked:
    """The parts holding a value below the threshold or one the rules pass could not read
    (``header``: the header must be asked whatever its values, the rules not having read it)."""
    doubted = {_part(where) for where, score in scores.items() if score < THRESHOLD}
    doubted |= {_part(where) for where in unread}
    items: Collection[int] = {part for part in doubted if isinstance(part, int)}
    return Asked(header=header or "header" in doubted, summary="summary" in doubted, items=frozenset(items))
