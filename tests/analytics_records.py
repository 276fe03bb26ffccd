"""A small hand-built batch for the analyst layer's tests: four letters, ten items, known rates.

| letter | age, sex | specialties | priority | decided | items (category: decision) |
| --- | --- | --- | --- | --- | --- |
| A | 25 male | Orthopedic Surgery | Standard | 2018-03-05 | imaging: O, imaging: U, medication: U |
| B | 45 female | Pain Management | Expedited | 2018-03-20 | medication: U, medication: U, medication: O |
| C | 70 female | Orthopedic Surgery, Pain Management | Standard | 2018-04-02 | surgery: O, imaging: U |
| D | (none) | (none) | Standard | 2018-04-30 | medication: U (retrospective), dme: U (partial) |

O: overturned, U: upheld; three of ten items are overturned. Body regions: A's first item the
left low back, C's first the low back and a knee, C's second a knee; patient A the low back.
Only the first items of A and C have a reviewer citing a title the claims administrator did
not. A has two checks (one disagreeing), B one; errors.jsonl beside them holds two failed letters.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from extractor.schemas import (
    BodyRegion,
    Case,
    Category,
    Check,
    Decision,
    Determination,
    Document,
    Guideline,
    GuidelineSource,
    Item,
    Patient,
    Record,
    Region,
    Reviewer,
)

OVER, UP = Decision.OVERTURNED, Decision.UPHELD
CHRONIC_PAIN = Guideline(
    source=GuidelineSource.MTUS,
    title="Chronic Pain",
    chapter="Chronic Pain Medical Treatment Guidelines",
    sections=["Opioids"],
    pages=[76, 77],
)
LOW_BACK_LEFT, KNEE = BodyRegion(region=Region.LUMBAR_SPINE, side="left"), BodyRegion(region=Region.KNEE)
LOW_BACK = Guideline(source=GuidelineSource.ODG, title="Low Back", sections=["MRIs"], pages=[])


def item(category: Category, decision: Decision, *, new_title: bool = False, **fields: object) -> Item:
    """An item whose claims administrator cited CHRONIC_PAIN; its reviewer cites the same, and
    LOW_BACK too when ``new_title``."""
    reviewer = [CHRONIC_PAIN, LOW_BACK] if new_title else [CHRONIC_PAIN]
    return Item(
        request=f"{category.value} request",
        decision=decision,
        category=category,
        claims_administrator_guidelines=[CHRONIC_PAIN],
        reviewer_guidelines=reviewer,
        rationale="A rationale written for the test.",
        **fields,  # type: ignore[arg-type]
    )


def record(
    name: str,
    patient: Patient,
    specialties: list[str],
    priority: str,
    decided: str,
    items: list[Item],
    checks: list[Check] | None = None,
) -> Record:
    return Record(
        document=Document(id=name, path=f"letters/{name}.pdf", sha256=name * 64, pages=2, chars=1000),
        determination=Determination(
            case=Case(case_number=name, decision_date=dt.date.fromisoformat(decided), priority=priority),
            reviewer=Reviewer(licensure_states=["CA"], specialties=specialties),
            patient=patient,
            items=items,
        ),
        checks=checks or [],
        needs_review=any(check.review for check in checks or []),
    )


MEDICATION, IMAGING = Category.MEDICATION, Category.IMAGING
RECORDS = [
    record(
        "A", Patient(age=25, sex="male", diagnoses=["lumbar strain"], mechanism_of_injury="lifting a box",
                 body_regions=[LOW_BACK_LEFT]),
        ["Orthopedic Surgery"], "Standard", "2018-03-05",
        [item(IMAGING, OVER, new_title=True, body_regions=[LOW_BACK_LEFT]), item(IMAGING, UP),
         item(MEDICATION, UP)],
        [Check(field="determination.items[0].decision", rules="Overturned", llm="Overturned", status="agree"),
         Check(field="determination.items[1].category", rules="imaging", llm="dme", status="disagree",
               review=True)],
    ),
    record(
        "B", Patient(age=45, sex="female", diagnoses=["neck pain", "depression"]),
        ["Pain Management"], "Expedited", "2018-03-20",
        [item(MEDICATION, UP), item(MEDICATION, UP), item(MEDICATION, OVER)],
        [Check(field="determination.case.case_number", rules="B", status="rules_only")],
    ),
    record(
        "C", Patient(age=70, sex="female"), ["Orthopedic Surgery", "Pain Management"],
        "Standard", "2018-04-02",
        [item(Category.SURGERY, OVER, new_title=True, body_regions=[LOW_BACK_LEFT, KNEE]),
         item(IMAGING, UP, body_regions=[KNEE])],
    ),
    record(
        "D", Patient(), [], "Standard", "2018-04-30",
        [Item(request="Retrospective medication request", decision=UP, category=MEDICATION),
         item(Category.DME, UP, original_request="two braces")],
    ),
]  # fmt: skip


def write_batch(out: Path, records: list[Record] = RECORDS) -> Path:
    """A batch's folder: records.jsonl with ``records``, errors.jsonl with two failed letters."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "records.jsonl", "w", encoding="utf-8") as lines:
        lines.writelines(r.model_dump_json() + "\n" for r in records)
    failed = {
        "document": {"path": "x.txt"},
        "error": {"type": "not_imr_letter", "message": "no IMR headings"},
    }
    (out / "errors.jsonl").write_text(json.dumps(failed) + "\n" + json.dumps(failed) + "\n", encoding="utf-8")
    return out


def hostile(records: list[Record] = RECORDS) -> list[Record]:
    """``records`` with text an analyst's tools could misread: dollar signs and a TeX macro that
    matplotlib would take for math, and cells a spreadsheet would run as formulas."""
    copies = [r.model_copy(deep=True) for r in records]
    first, second = copies[0].determination, copies[1].determination
    first.items[0].request = DOLLARS
    first.items[1].request = '=HYPERLINK("http://x","y")'
    first.items[2].request = "-5"  # text that is just a number is a number, in any spreadsheet
    first.patient.diagnoses = ["+cmd|' /C calc'!A0"]
    first.items[0].reviewer_guidelines[1].sections = ["@SUM(1+1)"]
    second.reviewer.specialties = [MACRO]
    return copies


DOLLARS = "Gym membership $50 monthly, #60 $300"
MACRO = r"$\macro$ Pain Management"
