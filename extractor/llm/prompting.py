"""What the LLM pass asks: the response models, the rendered prompts, and their version.

The model fills :class:`DeterminationDraft`, the schema's determination without each item's
long rationale (a 1.5B model on a CPU writes ~20 tokens/s; the rules pass quotes rationales
from the letter anyway).  Field names are the schema's, and a draft is valid only when the
schema's own consistency validator accepts it under ``{"strict": True}``, so instructor
re-asks the model with the reason.  The draft applies that context itself: instructor's
``context=`` would also render the messages as Jinja templates, altering any letter that
holds braces.

Letters longer than the model's context go in parts: the header, credentials, summary and
first items in one request, the remaining item blocks in as few more as fit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema

from extractor import schemas
from extractor.layout import item_spans, split_sections
from extractor.llm import templates
from extractor.normalize import parse_date, state_codes

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

STRICT = {"strict": True}
"""The validation context under which the schema rejects an inconsistent determination."""

CHARS_PER_TOKEN = 4
"""Rough size of a token in English text, for deciding whether a letter fits the context."""


_LEADING_KEYS = ("request", "decision")


class _Draft(BaseModel):
    """A response model whose JSON Schema is shaped for a server that constrains decoding to it.

    Every key is required (null stays allowed): otherwise the grammar lets the model skip
    keys, and a small model skipped the whole case, reviewer and patient.  An item's decision
    comes right after its request, as in the letter: placed after original_request, the
    decision word was written into original_request.
    """

    model_config = ConfigDict(extra="forbid")

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


class ItemDraft(schemas.Item):
    """One disputed item and the reviewer's decision on it."""

    model_config = ConfigDict(title="Item")

    # Not asked of the model (the prompt and its schema stay as recorded): the rules pass reads
    # these from the letter.
    body_regions: SkipJsonSchema[list[schemas.BodyRegion]] = Field(default_factory=list)
    authorized: SkipJsonSchema[str | None] = None
    depends_on: SkipJsonSchema[int | None] = None
    date_of_service: SkipJsonSchema[dt.date | None] = None
    rationale: SkipJsonSchema[str | None] = None


class Patient(schemas.Patient):
    """The injured worker, from the clinical case summary."""

    # Named as the schema's model: the JSON Schema's $defs key is the class name, and the
    # recorded prompts were sent with "Patient".
    body_regions: SkipJsonSchema[list[schemas.BodyRegion]] = Field(default_factory=list)


class ItemsDraft(_Draft):
    """The disputed items in a part of a long letter."""

    model_config = ConfigDict(title="Items")

    items: list[ItemDraft] = Field(min_length=1, description="Every item in this part, in order.")


class DeterminationDraft(_Draft):
    """What an IMR letter decides: its header, reviewer, patient and disputed items."""

    model_config = ConfigDict(title="Determination")

    case: CaseDraft = Field(default_factory=CaseDraft)
    reviewer: schemas.Reviewer = Field(default_factory=schemas.Reviewer)
    patient: Patient = Field(default_factory=Patient)
    items: list[ItemDraft] = Field(min_length=1, description="Every disputed item, in order.")

    @model_validator(mode="after")
    def _consistent(self) -> DeterminationDraft:
        self.determination()
        return self

    def determination(self, more: Sequence[ItemsDraft] = ()) -> schemas.Determination:
        """The schema's determination, with the items of ``more`` parts appended.

        Raises ValueError with the schema's reasons (and nothing else: pydantic's own
        message would repeat the whole input to the model).
        """
        data = self.model_dump(exclude={"case"})
        data["case"] = self.case.to_case()
        # Small models write "California" where the schema asks for "CA": same fact, one form.
        states = data["reviewer"]["licensure_states"]
        data["reviewer"]["licensure_states"] = [
            code for state in states for code, _ in state_codes(state)
        ] or states
        data["items"] += [item.model_dump() for part in more for item in part.items]
        try:
            return schemas.Determination.model_validate(data, context=STRICT)
        except ValidationError as error:
            problems = error.errors(include_url=False, include_input=False)
            reasons = (problem["msg"].removeprefix("Value error, ") for problem in problems)
            raise ValueError("; ".join(reasons)) from None


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (DeterminationDraft, ItemsDraft)


@dataclass(frozen=True)
class Request:
    """One chat request: the model to fill and the messages that ask for it."""

    response_model: type[DeterminationDraft] | type[ItemsDraft]
    messages: list[ChatCompletionMessageParam]

    def estimated_tokens(self) -> int:
        text = sum(len(str(message.get("content", ""))) for message in self.messages)
        return (text + _schema_chars(self.response_model)) // CHARS_PER_TOKEN


@functools.cache
def _schema_chars(model: type[BaseModel]) -> int:
    """Length of the JSON Schema sent with every request (building it costs ~5 ms)."""
    return len(json.dumps(model.model_json_schema()))


@functools.cache
def _template(name: str) -> str:
    return templates.load(name)


def fingerprint(templates: Mapping[str, str], models: Iterable[type[BaseModel]]) -> str:
    """12 hex of SHA-256 over the templates (by name) and the models' JSON Schemas."""
    digest = hashlib.sha256()
    for name in sorted(templates):
        digest.update(f"{name}\0{templates[name]}\0".encode())
    for model in models:
        digest.update(json.dumps(model.model_json_schema(), sort_keys=True).encode())
    return digest.hexdigest()[:12]


@functools.cache
def prompt_version() -> str:
    """Changes whenever anything the model is sent, besides the letter, changes."""
    return fingerprint({name: _template(name) for name in templates.TEMPLATES}, RESPONSE_MODELS)


def clean(text: str) -> str:
    """The letter as sent: trailing spaces and blank lines cost tokens and carry nothing."""
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


_DELIMITER = re.compile(r"<(/?)(letter(?:_part)?)(\s*)>", re.I)


def fenced(text: str) -> str:
    """The letter with any ``<letter>`` or ``<letter_part>`` tag of its own escaped, so that the one pair of
    tags the template puts around it is the only pair: a letter cannot close its own fence."""
    return _DELIMITER.sub(r"&lt;\1\2\3&gt;", text)


def request(response_model: type[DeterminationDraft] | type[ItemsDraft], text: str) -> Request:
    template = "user.md" if response_model is DeterminationDraft else "user_items.md"
    return Request(
        response_model,
        [
            {"role": "system", "content": _template("system.md")},
            # replace, not format: the letter may hold braces of its own.
            {"role": "user", "content": _template(template).replace("{letter}", fenced(text))},
        ],
    )


def split_items(text: str) -> tuple[str, list[str]]:
    """The text before the first disputed item, and one block of text per item after it.

    The blocks are the letter's layout (extractor.layout), so both passes cut a long letter
    at the same headings.
    """
    decisions = split_sections(text).get("decisions")
    spans = item_spans(text, decisions) if decisions is not None else []
    if not spans:
        return text, []
    return text[: spans[0][0]], [text[start:end] for start, end in spans]


def plan(letter: str, *, context_tokens: int, max_tokens: int) -> list[Request]:
    """The requests that extract ``letter``: one when it fits the context, else one per part."""
    text = clean(letter)
    whole = request(DeterminationDraft, text)
    if whole.estimated_tokens() + max_tokens <= context_tokens:
        return [whole]
    head, blocks = split_items(text)
    if not blocks:
        return [whole]
    requests: list[Request] = []
    model: type[DeterminationDraft] | type[ItemsDraft] = DeterminationDraft
    while blocks:
        taken = 1
        while taken < len(blocks):
            wider = request(model, head + "".join(blocks[: taken + 1]))
            if wider.estimated_tokens() + max_tokens > context_tokens:
                break
            taken += 1
        requests.append(request(model, head + "".join(blocks[:taken])))
        head, blocks, model = "", blocks[taken:], ItemsDraft
    return requests
