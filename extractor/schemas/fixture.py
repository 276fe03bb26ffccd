"""A hand label for one letter: the determination a person read off it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from extractor.schemas.record import Determination


class FixtureDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    path: str


class Fixture(BaseModel):
    """Keys left out of ``determination`` are unlabelled and not scored (see evals/LABELLING.md)."""

    model_config = ConfigDict(extra="forbid")

    document: FixtureDocument
    determination: Determination
    notes: str | None = None
