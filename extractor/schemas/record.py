"""The record every consumer sees: the single source of truth for names, enums and JSON Schema.

``Record.model_dump(mode="json")`` is exactly the shape in shared/CONTRACT.md.  Field
descriptions double as the documentation the LLM reads through the JSON Schema, so the fields the
LLM pass's response models inherit (extractor/llm/drafts.py) are documented for people by a
docstring under the field instead: a new description there would change ``prompt_version`` and
void the recorded cassettes.  Both become docs/record.md (``extractor schema --markdown``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationInfo, model_validator


class Decision(StrEnum):
    """An IMR outcome for one disputed item."""

    UPHELD = "Upheld"
    OVERTURNED = "Overturned"


class Category(StrEnum):
    """What kind of treatment a disputed item is (see evals/LABELLING.md for the boundaries)."""

    IMAGING = "imaging"
    ELECTRODIAGNOSTIC = "electrodiagnostic"
    LABORATORY = "laboratory"
    MEDICATION = "medication"
    INJECTION = "injection"
    SURGERY = "surgery"
    DME = "dme"
    PHYSICAL_THERAPY = "physical_therapy"
    CHIROPRACTIC = "chiropractic"
    ACUPUNCTURE = "acupuncture"
    PSYCHOLOGICAL = "psychological"
    CONSULTATION = "consultation"
    HOME_HEALTH = "home_health"
    TRANSPORTATION = "transportation"
    FUNCTIONAL_RESTORATION = "functional_restoration"
    OTHER = "other"


class DrugClass(StrEnum):
    """What kind of drug a medication item is, as the Division's IMR reports group pharmaceutical
    requests (see evals/LABELLING.md); the declaration order is the precedence a combination
    product's class is chosen by."""

    OPIOID = "opioid"
    NSAID = "nsaid"
    MUSCLE_RELAXANT = "muscle_relaxant"
    TOPICAL_ANALGESIC = "topical_analgesic"
    ANTICONVULSANT = "anticonvulsant"
    ANTIDEPRESSANT = "antidepressant"
    SEDATIVE_HYPNOTIC = "sedative_hypnotic"
    GASTROINTESTINAL = "gastrointestinal"
    MEDICAL_FOOD = "medical_food"
    OTHER = "other"


class GuidelineSource(StrEnum):
    """The body of guidance a citation comes from."""

    MTUS = "MTUS"
    ACOEM = "ACOEM"
    ODG = "ODG"
    OTHER = "other"


class Region(StrEnum):
    """A part of the body (see shared/CONTRACT.md for what each covers)."""

    HEAD = "head"
    FACE = "face"
    CERVICAL_SPINE = "cervical_spine"
    """The neck."""
    THORACIC_SPINE = "thoracic_spine"
    """The mid or upper back."""
    LUMBAR_SPINE = "lumbar_spine"
    """The low back, lumbosacral included."""
    SHOULDER = "shoulder"
    UPPER_ARM = "upper_arm"
    ELBOW = "elbow"
    FOREARM = "forearm"
    WRIST = "wrist"
    HAND = "hand"
    """Fingers and thumb included."""
    UPPER_EXTREMITY = "upper_extremity"
    """An arm with no joint named."""
    CHEST = "chest"
    """Ribs included."""
    ABDOMEN = "abdomen"
    PELVIS = "pelvis"
    HIP = "hip"
    THIGH = "thigh"
    KNEE = "knee"
    LOWER_LEG = "lower_leg"
    ANKLE = "ankle"
    FOOT = "foot"
    """Toes and heel included."""
    LOWER_EXTREMITY = "lower_extremity"
    """A leg with no joint named."""
    PSYCHE = "psyche"
    """Psychiatric conditions."""
    SYSTEMIC = "systemic"
    """Internal or whole-body conditions."""
    OTHER = "other"


Sex = Literal["male", "female"]
Side = Literal["left", "right", "bilateral"]
CheckStatus = Literal["agree", "disagree", "rules_only", "llm_only"]
Backend = Literal["rules", "llm", "hybrid"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Document(_Model):
    """Where a record came from; ``sha256`` is of the file's bytes, ``chars`` of the text as read."""

    id: str = Field(description="Case number when the letter has one, else the file name's stem.")
    path: str = Field(description="The file as it was named (a batch keeps the first spelling).")
    sha256: str = Field(description="SHA-256 of the file's bytes, in hex.")
    pages: int | None = Field(default=None, description="PDF pages; null for text files.")
    chars: int = Field(description="Characters of the text as read (`extractor text`), which spans index.")


class Case(_Model):
    """The letter's header block."""

    case_number: str | None = Field(default=None, description="e.g. CM16-0213037")
    date_assigned: dt.date | None = Field(default=None, description="When the case went to the reviewer.")
    decision_date: dt.date | None = Field(default=None, description="The letter's date.")
    date_of_injury: dt.date | None = Field(
        default=None, description="From the header where there is one, else from the case summary."
    )
    ur_denial_date: dt.date | None = Field(default=None, description="The utilization review denial's date.")
    application_received: dt.date | None = Field(default=None, description="When the IMR application came.")
    priority: str | None = Field(default=None, description="Standard or Expedited")


class Reviewer(_Model):
    """The expert reviewer's credentials as the letter states them."""

    licensure_states: list[str] = Field(
        default_factory=list, description="Two-letter USPS codes in the order written."
    )
    specialties: list[str] = Field(default_factory=list)
    """As written after "Certification(s)/Specialty:", split at commas and semicolons, `&` as "and"."""
    subspecialties: list[str] = Field(default_factory=list)
    """As the letter states them, split the same way."""


class BodyRegion(_Model):
    """One region of the body a summary or request names, with its side when it gives one."""

    region: Region = Field(description="The contract's name for the part of the body.")
    side: Side | None = Field(default=None, description="Null when the letter names no side.")


CodingMethod = Literal["title", "inclusion", "fuzzy", "none"]


class DiagnosisCoding(_Model):
    """How one diagnosis's ICD-10-CM code was found (extractor.icd), for a reviewer to weigh it."""

    method: CodingMethod = Field(
        description="title, inclusion (term) or fuzzy (index match); none when no code fits."
    )
    score: float = Field(ge=0, le=100, description="The match's score, 0-100 (100 for an exact match).")
    matched: str | None = Field(default=None, description="The code set's title or term it matched.")


class Patient(_Model):
    """The injured worker, from the clinical case summary."""

    age: int | None = Field(default=None, ge=0, le=120)
    """Whole years, as the case summary states them."""
    sex: Sex | None = None
    """As the case summary states it (or its pronouns); null when it says neither."""
    diagnoses: list[str] = Field(default_factory=list)
    """One entry per diagnosis the case summary lists, in its order and words."""
    mechanism_of_injury: str | None = Field(
        default=None, description="How the injury happened, in a short phrase, when stated."
    )
    body_regions: list[BodyRegion] = Field(
        default_factory=list, description="The regions the case summary names, in the order first named."
    )
    diagnosis_codes: list[str | None] = Field(
        default_factory=list,
        description="One ICD-10-CM code (with its dot) per diagnosis, in order; null where none fits.",
    )
    diagnosis_coding: list[DiagnosisCoding] = Field(
        default_factory=list, description="How each of diagnosis_codes was found, in the same order."
    )


class Guideline(_Model):
    """One guideline citation; ``source`` is null when the letter says none was cited."""

    source: GuidelineSource | None = None
    """Null when the letter says no guideline was cited."""
    title: str | None = None
    """The guideline's title as cited, without its sections or pages."""
    chapter: str | None = Field(
        default=None,
        description="The chapter (or guideline) of its source the title names, from the project's "
        "vocabulary, edition words and years left out; null when it names none.",
    )
    sections: list[str] = Field(default_factory=list)
    """The citation's "Section(s):" list, one entry each."""
    pages: list[PositiveInt] = Field(default_factory=list, description="98-99 is [98, 99].")


class Item(_Model):
    """One disputed item/service and the reviewer's decision on it."""

    request: str = Field(description="The item heading as written, without its trailing colon.")
    original_request: str | None = Field(
        default=None, description="For partly authorised requests: the original request."
    )
    decision: Decision
    """Upheld: the denial stands; Overturned: the treatment is certified."""
    category: Category = Category.OTHER
    """What kind of treatment the request is; other when no category fits."""
    body_regions: list[BodyRegion] = Field(
        default_factory=list, description="The regions the request names (else its rationale), in order."
    )
    authorized: str | None = Field(
        default=None, description="In a partial authorisation: what the claims administrator authorised."
    )
    depends_on: int | None = Field(
        default=None,
        ge=0,
        description="Index in items of the surgery an associated or post-operative item serves.",
    )
    date_of_service: dt.date | None = Field(
        default=None, description="A retrospective item's stated date of service."
    )
    drugs: list[str] = Field(
        default_factory=list,
        description="A medication item's active ingredients, lower-case generic names in the order "
        "requested (Norco 10/325 is hydrocodone, acetaminophen); [] for other items.",
    )
    drug_class: DrugClass | None = Field(
        default=None,
        description="A medication item's class (a topical or transdermal product for pain is "
        "topical_analgesic whatever its ingredients); null for other items.",
    )
    claims_administrator_guidelines: list[Guideline] = Field(default_factory=list)
    """The guidelines the letter says the claims administrator based its denial on."""
    reviewer_guidelines: list[Guideline] = Field(default_factory=list)
    """The guidelines the reviewer's decision is based on."""
    rationale: str | None = Field(default=None, description="The item's decision rationale, quoted.")


def date_problems(case: Case) -> list[str]:
    """The case's dates out of their order (injury, UR denial, application, assignment, decision)."""
    problems: list[str] = []
    chain = [
        ("date_of_injury", case.date_of_injury),
        ("ur_denial_date", case.ur_denial_date),
        ("application_received", case.application_received),
        ("date_assigned", case.date_assigned),
        ("decision_date", case.decision_date),
    ]
    known = [(name, value) for name, value in chain if value is not None]
    for (first, a), (second, b) in itertools.pairwise(known):
        if a > b:
            problems.append(f"{first} {a.isoformat()} is after {second} {b.isoformat()}")
    return problems


def consistency_problems(case: Case, items: list[Item]) -> list[str]:
    """What a valid determination must satisfy, as readable reasons (empty when consistent)."""
    problems = date_problems(case)
    if not items:
        problems.append("no disputed item with a decision")
    return problems


class Determination(_Model):
    """What the letter decides.  Under validation context ``{"strict": True}`` (the LLM pass)
    an inconsistent determination is a validation error, so instructor re-asks the model."""

    case: Case = Field(default_factory=Case)
    reviewer: Reviewer = Field(default_factory=Reviewer)
    patient: Patient = Field(default_factory=Patient)
    items: list[Item] = Field(default_factory=list, description="The disputed items, in the letter's order.")

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Determination:
        if isinstance(info.context, dict) and info.context.get("strict"):
            every_item = info.context.get("items", True)
            problems = consistency_problems(self.case, self.items) if every_item else date_problems(self.case)
            if problems:
                raise ValueError("; ".join(problems))
        return self

    def problems(self) -> list[str]:
        return consistency_problems(self.case, self.items)


Span = tuple[int, int]


class Check(_Model):
    """One key field compared between the rules pass and the LLM pass."""

    field: str = Field(description="The value's path, as in evidence.")
    rules: Any = Field(default=None, description="What the rules pass read (JSON, as in the record).")
    llm: Any = Field(default=None, description="What the LLM pass read; null in a rules record.")
    status: CheckStatus = Field(
        description="agree, disagree, or which pass alone gave a value (rules_only, llm_only)."
    )
    review: bool = Field(
        default=False,
        description="A person should look at this field; a record needs review when any check does.",
    )
    note: str | None = Field(default=None, description="Why, when the status alone does not say.")


class Usage(_Model):
    """Tokens the endpoint reported, summed over every answer, valid or not."""

    prompt_tokens: int = Field(default=0, description="Tokens sent.")
    completion_tokens: int = Field(default=0, description="Tokens the model wrote.")

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class Provenance(_Model):
    """How the record was made and what it cost."""

    backend: Backend = Field(default="rules", description="The backend that made the record.")
    model: str | None = Field(default=None, description="The LLM asked; null for rules.")
    prompt_version: str | None = Field(
        default=None,
        description="The prompt version of each kind of request the LLM was sent for this letter "
        '("header:V patient:V item:V"; a kind not asked is left out); null for rules.',
    )
    requests: int = Field(default=0, description="LLM requests the letter's parts took (retries apart).")
    skipped: list[str] = Field(
        default_factory=list,
        description="Parts of the letter the LLM was not asked about, the rules being sure of them "
        '("header", "summary", "items[2]").',
    )
    attempts: int = Field(default=0, description="HTTP calls to the endpoint, retries included.")
    usage: Usage = Field(default_factory=Usage)
    seconds: float = Field(default=0.0, description="Wall-clock time the letter took.")


class Record(_Model):
    """One letter, extracted: the unit of every output file."""

    document: Document
    determination: Determination
    evidence: dict[str, list[Span]] = Field(
        default_factory=dict,
        description="For each value read, by its path, the [start, end) character spans of the text "
        "(as `extractor text` prints it) it was read from.",
    )
    confidence: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "For each key field's value, by its path as in evidence, the probability that it is right "
            "(0 to 1), calibrated on labelled letters; a value below the review threshold has a check "
            "that says why."
        ),
    )
    checks: list[Check] = Field(
        default_factory=list,
        description="Each key field compared between the passes, and each doubt or problem found.",
    )
    needs_review: bool = Field(default=False, description="True when any check has review: true.")
    provenance: Provenance = Field(default_factory=Provenance)
