"""Pydantic models of an IMR determination record (shared/CONTRACT.md)."""

from schemas.fixture import Fixture, FixtureDocument
from schemas.record import (
    Case,
    Category,
    Check,
    CheckStatus,
    Decision,
    Determination,
    Document,
    Guideline,
    GuidelineSource,
    Item,
    Patient,
    Provenance,
    Record,
    Reviewer,
    Span,
    Usage,
    consistency_problems,
)

__all__ = [
    "Case",
    "Category",
    "Check",
    "CheckStatus",
    "Decision",
    "Determination",
    "Document",
    "Fixture",
    "FixtureDocument",
    "Guideline",
    "GuidelineSource",
    "Item",
    "Patient",
    "Provenance",
    "Record",
    "Reviewer",
    "Span",
    "Usage",
    "consistency_problems",
]
