"""What the model fills: one small response model per part of a letter.

A 1.5B model answers one short, well-framed question well and a whole letter badly, so the LLM
pass asks three kinds of question (see :mod:`extractor.llm.prompting`): the header and the
reviewer's credentials (:class:`HeaderDraft`), the case summary (:class:`PatientDraft`) and
each item block (:class:`ItemDraft`).  Field names are the schema's; a draft that breaks the
schema's rules raises ``ValueError`` with the reason only, so instructor re-asks that one
question with it.

An answer becomes the schema's values through the grammars the rules pass reads the letter
with (diagnosis lists, citations, regions), never by asking again: a small model cuts a list or
copies a citation whole in ways that change no fact, and the cross-check should see facts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from extractor import schemas
from extractor.citations import canonical, tidy
from extractor.diagnoses import regroup
from extractor.drugs import medication
from extractor.icd import coded
from extractor.normalize import page_numbers, parse_date, state_codes, without_pages
from extractor.regions import regions_in

_LEADING_KEYS = ("request", "decision")
_CITATION_LISTS = ("claims_administrator_guidelines", "reviewer_guidelines")
# Answers that state no mechanism: "industrial injury" is the legal name of every injury these
# letters concern, not how it happened (a small model writes it, with the date, where the
# summary states none), and "unknown" is the summary saying it does not know.
_NO_MECHANISM = re.compile(
    r"(?:(?:an?\s+)?(?:industrial|work|occupational)(?:[-\s](?:work|related))?\s+injur(?:y|ies)"
    r"(?:\s+(?:of|on|dated)\s+[\w/, -]*\d)?"
    r"|(?:the\s+mechanism(?:\s+of\s+injury)?\s+(?:is|was)\s+)?(?:unknown|unspecified|none|n/?a"
    r"|not\s+(?:known|documented|stated|specified|described|provided)))[\s.]*",
    re.I,
)


MAX_STRING_CHARS = 1000
"""The longest string (value or key) an answer may hold: a heading, a diagnosis, a citation's
title. The longest the rules pass reads in the published letters has 335 characters, the
longest in a recorded answer 200; a 100 KB one took grounding 220 s."""


def longest_string(data: Any) -> int:
    """The length of the longest string anywhere in ``data`` (parsed JSON), keys included;
    walked without recursion, since an answer may nest deep."""
    longest, todo = 0, [data]
    while todo:
        value = todo.pop()
        if isinstance(value, str):
            longest = max(longest, len(value))
        elif isinstance(value, dict):
            todo.extend(value)
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
    return longest


class _Draft(BaseModel):
    """A response model whose JSON Schema is shaped for a server that constrains decoding to it.

    Every key is required (null stays allowed): otherwise the grammar lets the model skip
    keys, and a small model skipped whole sections.  An item's decision comes right after its
    request, as in the letter: placed after original_request, the decision word was written
    into original_request.

    No string may be longer than :data:`MAX_STRING_CHARS`.  The bound is a validator, not a
    ``max_length`` of each field, so that the JSON Schema sent (and every recorded request's
    digest) stays as it was; an answer past it is refused by its length alone, never quoted.
    """

    model_config = ConfigDict(extra="forbid")

    reads: ClassVar[tuple[str, ...]] = ()
    """The determination's sections an answer of this model fills."""

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        longest = longest_string(data)
        if longest > MAX_STRING_CHARS:
            raise ValueError(f"a string of {longest:,} characters, over the {MAX_STRING_CHARS:,} allowed")
        return data

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        schema = super().model_json_schema(*args, **kwargs)
        for node in [schema, *schema.get("$defs", {}).values()]:
            properties = node.get("properties")
            if properties is None:
                continue
            if all(key in properties for key in _LEADING_KEYS):
                leading = {key: properties.pop(key) for key in _LEADING_KEYS}
                node["properties"] = properties = leading | properties
            node["required"] = list(properties)
        return schema


_DATE_FIELDS = ("date_assigned", "decision_date", "date_of_injury", "ur_denial_date", "application_received")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _read_date(name: str, written: str | None, reference: dt.date) -> dt.date | None:
    if written is None or not written.strip():
        return None
    if _ISO_DATE.fullmatch(written.strip()):
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(written.strip())
    parsed = parse_date(written, reference)
    if parsed is None:
        raise ValueError(f"{name} is not a date as the letter writes it")
    return parsed


class CaseDraft(BaseModel):
    """The letter's header block, its dates copied as the letter writes them.

    Dates are read here, not by the model: made to write ISO dates, the 1.5B model turned
    "01/20/2017" into "0120-12-20".
    """

    model_config = ConfigDict(extra="forbid", title="Case")

    case_number: str | None = None
    date_assigned: str | None = None
    decision_date: str | None = None
    date_of_injury: str | None = None
    ur_denial_date: str | None = None
    application_received: str | None = None
    priority: str | None = None

    def to_case(self) -> schemas.Case:
        """The schema's case; two-digit years go to the century before the decision date."""
        today = dt.date.today()
        reference = _read_date("decision_date", self.decision_date, today) or today
        dates = {name: _read_date(name, getattr(self, name), reference) for name in _DATE_FIELDS}
        return schemas.Case.model_validate(
            {"case_number": self.case_number, "priority": self.priority, **dates}
        )


class HeaderDraft(_Draft):
    """The header block and the reviewer's credentials."""

    model_config = ConfigDict(title="Header")
    reads = ("case", "reviewer")

    case: CaseDraft = Field(default_factory=CaseDraft)
    reviewer: schemas.Reviewer = Field(default_factory=schemas.Reviewer)

    @model_validator(mode="after")
    def _dates_in_order(self) -> HeaderDraft:
        problems = schemas.date_problems(self.to_case())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def to_case(self) -> schemas.Case:
        return self.case.to_case()

    def to_reviewer(self) -> schemas.Reviewer:
        # Small models write "California" where the schema asks for "CA": same fact, one form.
        states = self.reviewer.licensure_states
        codes = [code for state in states for code, _ in state_codes(state)] or states
        return self.reviewer.model_copy(update={"licensure_states": codes})


class PatientDraft(_Draft, schemas.Patient):
    """The injured worker, from the case summary."""

    model_config = ConfigDict(title="Patient")
    reads = ("patient",)

    # Not asked of the model: the regions its diagnoses name, read through the vocabulary the
    # rules pass uses (a 1.5B model mapped words to regions right on 3 letters in 10).
    body_regions: SkipJsonSchema[list[schemas.BodyRegion]] = Field(default_factory=list)
    # Not asked either: the codes of its diagnoses, from the code set as the rules pass codes
    # them (extractor.icd); left out of the JSON Schema, so the recorded prompts stay as they were.
    diagnosis_codes: SkipJsonSchema[list[str | None]] = Field(default_factory=list)
    diagnosis_coding: SkipJsonSchema[list[schemas.DiagnosisCoding]] = Field(default_factory=list)

    def to_patient(self) -> schemas.Patient:
        """The schema's patient: the diagnoses divided as the rules pass divides a list
        (:mod:`extractor.diagnoses`) and coded as it codes them, and no mechanism where the
        answer names none."""
        diagnoses = regroup(self.diagnoses)
        mechanism = self.mechanism_of_injury
        if mechanism is not None and _NO_MECHANISM.fullmatch(mechanism.strip()):
            mechanism = None
        regions = regions_in("; ".join(diagnoses))
        read = {"diagnoses": diagnoses, "mechanism_of_injury": mechanism, "body_regions": regions}
        return coded(schemas.Patient.model_validate(self.model_dump() | read))


def tidy_citation(citation: Any) -> Any:
    """A model's citation with its pages where the schema keeps them: a page reference written
    into the title moves to ``pages`` (when those are empty), and a page 0, which a small model
    writes for "no page", is dropped rather than failing the whole answer."""
    if not isinstance(citation, dict):
        return citation
    tidied = dict(citation)
    pages = tidied.get("pages")
    if isinstance(pages, list):
        tidied["pages"] = pages = [p for p in pages if not (type(p) is int and p < 1)]
    title = tidied.get("title")
    if isinstance(title, str) and (in_title := page_numbers(title)):
        tidied["title"] = tidy(without_pages(title)) or None
        if not pages:
            tidied["pages"] = in_title
    return tidied


class Guideline(schemas.Guideline):
    """One guideline citation; ``source`` is null when the letter says none was cited."""

    # Not asked of the model: the chapter its title names, read through the vocabulary the rules
    # pass uses (extractor.citations.canonical). Left out of the JSON Schema, and named as the
    # schema's citation is (its docstring too), so the recorded prompts stay as they were.
    chapter: SkipJsonSchema[str | None] = None


class ItemDraft(_Draft, schemas.Item):
    """One disputed item and the reviewer's decision on it, from its block."""

    model_config = ConfigDict(title="Item")
    reads = ("items",)

    @model_validator(mode="before")
    @classmethod
    def _tidy_citations(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        lists = {key: data[key] for key in _CITATION_LISTS if isinstance(data.get(key), list)}
        return data | {key: [tidy_citation(c) for c in citations] for key, citations in lists.items()}

    # Not asked of the model: the rules pass reads these from the letter (depends_on needs the
    # other items, the rationale is long to write and is quoted from the letter anyway), and the
    # body regions, drugs and drug class are those the request names (see to_item).
    body_regions: SkipJsonSchema[list[schemas.BodyRegion]] = Field(default_factory=list)
    # the citations as the model writes them (no chapter): a list of a subclass of the schema's
    claims_administrator_guidelines: list[Guideline] = Field(default_factory=list)  # type: ignore[assignment]
    reviewer_guidelines: list[Guideline] = Field(default_factory=list)  # type: ignore[assignment]
    drugs: SkipJsonSchema[list[str]] = Field(default_factory=list)
    drug_class: SkipJsonSchema[schemas.DrugClass | None] = None
    depends_on: SkipJsonSchema[int | None] = None
    date_of_service: SkipJsonSchema[dt.date | None] = None
    rationale: SkipJsonSchema[str | None] = None

    def to_item(self) -> schemas.Item:
        """The schema's item: citations in the form the citation grammar gives the letter's
        (:func:`extractor.citations.canonical`), and the regions and drugs its request names, read
        through the vocabularies both passes share. The model is not asked for regions: it is not
        sent the rationale, which the contract falls back on when the request names none, and
        asked, it filled them from guideline titles; drugs are read the same way so that both
        passes name a request's drugs alike and the JSON Schema sent stays as it was."""
        lists = {name: canonical(getattr(self, name)) for name in _CITATION_LISTS}
        read = {"body_regions": regions_in(self.request), **medication(self.request, self.category)._asdict()}
        return schemas.Item.model_validate(self.model_dump() | lists | read)


DRAFTS: tuple[type[_Draft], ...] = (HeaderDraft, PatientDraft, ItemDraft)
"""Every response model the LLM pass sends; each one's JSON Schema goes into its kind's prompt version."""
