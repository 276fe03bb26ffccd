"""One line of reviews.jsonl: what a person did to a record in ``extractor review``.

The records file is never rewritten; a record as reviewed is the record with its review lines
applied in order (``extractor export --reviewed``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ReviewAction = Literal["accept", "edit", "add_item", "remove_item", "undo"]


class ReviewedDocument(BaseModel):
    """Which record: its document's id, path and sha256 (the sha256 is what matches)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    path: str
    sha256: str


class Review(BaseModel):
    """``accept`` takes the record as it is; ``edit`` sets ``field`` (a record path such as
    ``determination.items[0].category``) from ``old`` to ``new``; ``add_item`` inserts ``new`` at
    ``field`` (``determination.items[N]``) and ``remove_item`` removes ``old`` from it.  An
    ``accept`` with a ``field`` marks that one value reviewed as right.  ``undo`` cancels the
    record's latest review still in effect (``old`` says which); the line it cancels stays in
    the log."""

    model_config = ConfigDict(extra="forbid")

    document: ReviewedDocument
    who: str
    when: dt.datetime
    action: ReviewAction
    field: str | None = None
    old: Any = None
    new: Any = None
    note: str | None = Field(default=None, description="Why, in the reviewer's words.")
