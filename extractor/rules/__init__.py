"""The deterministic pass: every field a letter states, each with the spans it came from."""

from __future__ import annotations

from dataclasses import dataclass

from extractor.confidence import Doubt
from extractor.fields import path
from extractor.icd import coded
from extractor.layout import Layout, lay_out
from extractor.rules.case import extract_case
from extractor.rules.clinical import extract_diagnoses, extract_mechanism
from extractor.rules.doubts import find_doubts
from extractor.rules.evidence import Evidence, Spans, record_evidence
from extractor.rules.items import determined_items, extract_items
from extractor.rules.patient import extract_age_sex, extract_injury_date
from extractor.rules.regions import patient_regions
from extractor.rules.reviewer import extract_reviewer
from extractor.schemas import Check, Determination, Patient

NO_SUMMARY = "not read: the letter has no case summary"


@dataclass(frozen=True)
class RulesResult:
    determination: Determination
    field_evidence: Spans
    """Spans of the values outside the items, by field path."""
    item_evidence: list[Spans]
    """Spans of each item's values, by field name, in the order of ``determination.items``."""
    layout: Layout
    """Where the letter's parts are: every later stage reads this one."""
    unread: dict[str, str]
    """Fields the rules pass could not tell (path -> why): "not read", never a silent empty value."""
    doubts: tuple[Doubt, ...] = ()
    """What made the values it read doubtful (extractor.rules.doubts)."""

    @property
    def checks(self) -> list[Check]:
        """A flagged check per field the rules pass could not read."""
        unread = self.unread.items()
        return [Check(field=field, status="rules_only", review=True, note=note) for field, note in unread]

    @property
    def evidence(self) -> Spans:
        """The record's evidence, by field path (a new dict on every call)."""
        return record_evidence(self.field_evidence, self.item_evidence)


def extract_rules(text: str, layout: Layout | None = None) -> RulesResult:
    """Read ``text`` (normalised, see extractor.reading) without any model, through its
    ``layout`` (found here when not given)."""
    layout = layout or lay_out(text)
    sections = layout.sections
    evidence = Evidence()
    case = extract_case(text, sections.header, evidence)
    reviewer = extract_reviewer(text, sections.get("credentials"), evidence)
    summary = sections.get("summary")
    patient = Patient()
    unread: dict[str, str] = {}
    if summary is not None:
        patient.age, patient.sex = extract_age_sex(text, summary, evidence)  # type: ignore[assignment]
        if case.date_of_injury is None:
            case.date_of_injury = extract_injury_date(text, summary, case.decision_date, evidence)
        patient.diagnoses, diagnoses = extract_diagnoses(text, summary, evidence)
        patient.mechanism_of_injury, mechanism = extract_mechanism(text, summary, evidence)
        diagnosed = [
            span
            for i in range(len(patient.diagnoses))
            for span in evidence.fields()[path("patient", "diagnoses", i)]
        ]
        patient.body_regions, named = patient_regions(text, summary, diagnosed)
        for span in named:
            evidence.add(path("patient", "body_regions"), span)
        # one code per diagnosis, each with its diagnosis's spans as evidence
        patient = coded(patient)
        for index, code in enumerate(patient.diagnosis_codes):
            for span in evidence.fields().get(path("patient", "diagnoses", index), []) if code else []:
                evidence.add(path("patient", "diagnosis_codes", index), span)
        readings = {"diagnoses": diagnoses, "mechanism_of_injury": mechanism}
        unread = {path("patient", name): r.note or "not read" for name, r in readings.items() if not r.read}
    else:
        unread = {path("patient", name): NO_SUMMARY for name in ("diagnoses", "mechanism_of_injury")}
    items = extract_items(text, layout.blocks, evidence, case.decision_date)
    if not items:
        items = determined_items(text, evidence, case.decision_date)
    determination = Determination(case=case, reviewer=reviewer, patient=patient, items=items)
    return RulesResult(
        determination=determination,
        field_evidence=evidence.fields(),
        item_evidence=evidence.items(len(items)),
        layout=layout,
        unread=unread,
        doubts=tuple(find_doubts(text, summary, determination)),
    )
