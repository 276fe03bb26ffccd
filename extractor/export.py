"""Records as spreadsheet rows: one row per disputed item, the case fields repeated."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import IO

from extractor.schemas import BodyRegion, Guideline, Record

ITEM_COLUMNS = (
    "document_id", "path", "case_number", "date_assigned", "decision_date", "date_of_injury",
    "ur_denial_date", "application_received", "priority", "licensure_states", "specialties",
    "subspecialties", "age", "sex", "diagnoses", "item_index", "request", "original_request",
    "decision", "category", "claims_administrator_sources", "reviewer_sources", "reviewer_pages",
    "needs_review", "backend", "authorized", "depends_on", "date_of_service", "body_regions",
    "patient_body_regions",
    # added later, at the end so that scripts reading columns by position keep working
    "mechanism_of_injury", "claims_administrator_titles", "claims_administrator_sections",
    "claims_administrator_pages", "reviewer_titles", "reviewer_sections", "rationale",
    "drugs", "drug_class", "claims_administrator_chapters", "reviewer_chapters",
)  # fmt: skip


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP, CSV injection)."""
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def spreadsheet_safe(value: object) -> object:
    """``value`` as a cell no spreadsheet runs: text starting like a formula gets a leading ``'``.

    Only text is touched, and text that is just a number (``-5``) is left as is: neither can
    be a formula, and numeric columns (age, item_index) stay numbers.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _joined(values: Iterable[object]) -> str:
    return "; ".join(str(value) for value in values if value is not None)


def _regions(regions: Iterable[BodyRegion]) -> str:
    """``shoulder:right; cervical_spine`` (a region without a side is written alone)."""
    return _joined(f"{r.region.value}:{r.side}" if r.side else r.region.value for r in regions)


def _citations(side: str, guidelines: list[Guideline]) -> dict[str, str]:
    """One side's titles, chapters, sections and pages, each joined across its citations."""
    return {
        f"{side}_titles": _joined(g.title for g in guidelines),
        f"{side}_chapters": _joined(g.chapter for g in guidelines),
        f"{side}_sections": _joined(section for g in guidelines for section in g.sections),
        f"{side}_pages": _joined(page for g in guidelines for page in g.pages),
    }


def item_rows(record: Record) -> Iterator[dict[str, object]]:
    """The rows of one record for items.csv (lists joined with "; ")."""
    case = record.determination.case.model_dump(mode="json")
    reviewer = record.determination.reviewer
    patient = record.determination.patient
    shared = {
        "document_id": record.document.id,
        "path": record.document.path,
        **case,
        "licensure_states": _joined(reviewer.licensure_states),
        "specialties": _joined(reviewer.specialties),
        "subspecialties": _joined(reviewer.subspecialties),
        "age": patient.age,
        "sex": patient.sex,
        "diagnoses": _joined(patient.diagnoses),
        "patient_body_regions": _regions(patient.body_regions),
        "mechanism_of_injury": patient.mechanism_of_injury,
        "needs_review": record.needs_review,
        "backend": record.provenance.backend,
    }
    for index, item in enumerate(record.determination.items):
        yield {
            **shared,
            "item_index": index,
            "request": item.request,
            "original_request": item.original_request,
            "decision": item.decision.value,
            "category": item.category.value,
            "claims_administrator_sources": _joined(
                g.source.value if g.source else "none cited" for g in item.claims_administrator_guidelines
            ),
            "reviewer_sources": _joined(
                g.source.value if g.source else "none cited" for g in item.reviewer_guidelines
            ),
            "body_regions": _regions(item.body_regions),
            "authorized": item.authorized,
            "depends_on": item.depends_on,
            "date_of_service": item.date_of_service.isoformat() if item.date_of_service else None,
            "drugs": _joined(item.drugs),
            "drug_class": item.drug_class.value if item.drug_class else None,
            **_citations("claims_administrator", item.claims_administrator_guidelines),
            **_citations("reviewer", item.reviewer_guidelines),
            "rationale": item.rationale,
        }


def csv_writer(stream: IO[str], header: bool = True) -> csv.DictWriter[str]:
    writer = csv.DictWriter(stream, fieldnames=ITEM_COLUMNS, extrasaction="ignore")
    if header:
        writer.writeheader()
    return writer


def write_items_csv(records: Iterable[Record], stream: IO[str]) -> int:
    """Write every item of ``records`` to ``stream``; returns the number of rows."""
    writer = csv_writer(stream)
    rows = 0
    for record in records:
        for row in item_rows(record):
            writer.writerow({column: spreadsheet_safe(cell) for column, cell in row.items()})
            rows += 1
    return rows
