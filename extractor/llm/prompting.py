"""What the LLM pass asks: one focused question per part of the letter, and the prompts' versions.

The letter's layout (extractor.layout, shared with the rules pass) cuts it into the header
with the reviewer's credentials, the case summary and one block per disputed item.  Each part
is one request with its own small response model (extractor.llm.drafts) and a system prompt
that carries worked examples.  An item block is sent up to its "Decision rationale:": every
fact asked of it is in the heading and the guideline lines, and the rationale is most of a
letter's tokens.  The answers are assembled into the schema's determination in code.

Each kind of request has its own prompt version, over only what that kind sends, so that an
edit to the item prompt changes the item requests' version and leaves the header's and the
summary's (and their recorded answers) as they were.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from extractor import schemas
from extractor.citations import citation_sentences
from extractor.errors import LLMInvalidOutput, TruncatedLetter
from extractor.layout import Layout, item_paragraphs, lay_out
from extractor.llm import examples, templates
from extractor.llm.drafts import HeaderDraft, ItemDraft, PatientDraft
from extractor.llm.templates import KINDS, Kind
from extractor.normalize import one_line
from extractor.scope import ALL, Asked

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

STRICT = {"strict": True}
DATES_ONLY = {"strict": True, "items": False}
"""Validation context of an answer that did not ask about every item: no item is no fault."""
"""The validation context under which the schema rejects an inconsistent determination."""

CHARS_PER_TOKEN = 4
"""Rough size of a token in English text, for deciding whether a part fits the context."""

Draft = HeaderDraft | PatientDraft | ItemDraft

MODELS: dict[Kind, type[Draft]] = {"header": HeaderDraft, "patient": PatientDraft, "item": ItemDraft}
FENCE = "letter_part"


@functools.cache
def _template(name: str) -> str:
    return templates.load(name)


@functools.cache
def system_prompt(kind: Kind) -> str:
    """The instructions for ``kind`` with its worked examples: the same prefix for every
    letter, which a local server keeps evaluated between requests."""
    shown = examples.load(templates.worked_examples(kind))
    rendered = "\n\n".join(example.render(n, FENCE) for n, example in enumerate(shown, 1))
    return _template(templates.instructions(kind)).replace("{examples}", rendered).strip()


def fingerprint(texts: Mapping[str, str], models: Iterable[type[BaseModel]]) -> str:
    """12 hex of SHA-256 over the prompt files (by name) and the models' JSON Schemas."""
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(f"{name}\0{texts[name]}\0".encode())
    for model in models:
        digest.update(json.dumps(model.model_json_schema(), sort_keys=True).encode())
    return digest.hexdigest()[:12]


@functools.cache
def kind_version(kind: Kind) -> str:
    """Changes whenever anything a ``kind`` request sends, besides the letter, changes: its prompt
    files (:func:`templates.sent`) or its response model."""
    return fingerprint({name: _template(name) for name in templates.sent(kind)}, (MODELS[kind],))


def prompt_versions() -> dict[str, str]:
    """Every kind's version: what a cassette's metadata says it was recorded with."""
    return {kind: kind_version(kind) for kind in KINDS}


def prompt_version(kinds: Iterable[Kind] = KINDS) -> str:
    """The versions of the requests of ``kinds`` (default: every kind), as a record's provenance
    says them: ``header:V patient:V item:V``, in that order."""
    asked = set(kinds)
    return version_label({kind: kind_version(kind) for kind in KINDS if kind in asked})


def version_label(versions: Mapping[str, str]) -> str:
    """``kind:version`` pairs, space-separated."""
    return " ".join(f"{kind}:{version}" for kind, version in versions.items())


def clean(text: str) -> str:
    """A part as sent: trailing spaces and blank lines cost tokens and carry nothing."""
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


_DELIMITER = re.compile(r"<(/?)(letter(?:_part)?)(\s*)>", re.I)


def fenced(text: str) -> str:
    """The part with any ``<letter>`` or ``<letter_part>`` tag of its own escaped, so that the one
    pair of tags the template puts around it is the only pair: a letter cannot close its fence."""
    return _DELIMITER.sub(r"&lt;\1\2\3&gt;", text)


@dataclass(frozen=True)
class Request:
    """One chat request: what it asks about, the model to fill and the messages that ask."""

    kind: Kind
    response_model: type[Draft]
    messages: list[ChatCompletionMessageParam]
    index: int | None = None
    """An item request's block, by its place among the letter's item blocks."""

    def estimated_tokens(self) -> int:
        text = sum(len(str(message.get("content", ""))) for message in self.messages)
        return text // CHARS_PER_TOKEN


def request(kind: Kind, part: str, index: int | None = None) -> Request:
    return Request(
        kind,
        MODELS[kind],
        [
            {"role": "system", "content": system_prompt(kind)},
            # replace, not format: the letter may hold braces of its own.
            {"role": "user", "content": _template(templates.USER).replace("{part}", fenced(clean(part)))},
        ],
        index,
    )


def item_part(block: str) -> str:
    """An item block as the model reads it: the heading on one line, then each guideline
    paragraph's label followed by its "Decision based on" sentences, one line each (a paragraph
    with none, such as "did not cite any medical evidence", as written), and nothing from the
    rationale on. A 2013 letter's determination sentence goes as it is.

    Read as the letter wraps it, the 1.5B model wrote one citation per paragraph, skipping a
    second "Decision based on", and took the sentence that frames a citation ("... based their
    decision on recommendation(s) outside of the MTUS Guidelines.") for "cited no medical
    evidence": a line per citation, and no framing, is a list it can copy.
    """
    paragraphs = item_paragraphs(block)
    rationale = paragraphs.pop("rationale", None)
    end = rationale.start if rationale is not None else len(block)
    if not paragraphs:
        return block[:end]
    ordered = sorted(paragraphs.values(), key=lambda paragraph: paragraph.start)
    lines = [one_line(block[: ordered[0].start])]
    for paragraph in ordered:
        label = one_line(block[paragraph.start : paragraph.body[0]])
        body = block[paragraph.body[0] : min(paragraph.body[1], end)]
        first, *more = citation_sentences(one_line(body)) or [one_line(body)]
        lines += [f"{label} {first}".strip(), *more]
    return "\n".join(lines)


_BEFORE_SUMMARY = ("documents", "issues", "summary", "decisions")


@dataclass(frozen=True)
class Parts:
    """The text of each part of a letter the LLM pass asks about."""

    header: str
    summary: str
    items: list[str]


def parts(letter: str, layout: Layout | None = None) -> Parts:
    """The header with the credentials (older layouts put them after the summary or the
    decisions: they are asked with the header wherever they are), the case summary, and each item
    block up to its rationale as :func:`item_part` lays it out (in a 2013 letter, each item's
    determination sentence).

    Raises TruncatedLetter when the letter has no item block: there is nothing to decide.
    """
    layout = layout or lay_out(letter)
    sections = layout.sections
    starts = [sections.headings[name] for name in _BEFORE_SUMMARY if name in sections.headings]
    header = letter[: min(starts, default=len(letter))]
    credentials = sections.headings.get("credentials")
    if credentials is not None and credentials >= len(header):
        header += "\n" + letter[credentials : sections.parts["credentials"][1]]
    summary_start = sections.headings.get("summary")
    summary = letter[summary_start : sections.parts["summary"][1]] if summary_start is not None else ""
    spans = layout.item_spans
    if not spans:
        raise TruncatedLetter("decisions section has no item with an Upheld/Overturned decision")
    return Parts(header, summary, [item_part(letter[start:end]) for start, end in spans])


def plan(letter: str, asked: Asked = ALL, layout: Layout | None = None) -> list[Request]:
    """The requests that read the parts of ``letter`` that ``asked`` names: header (when the
    letter has one), summary (when it has one), then each item in letter order, so that
    consecutive item requests share their whole system prompt (``layout``: the letter's, when
    the rules pass has found it already)."""
    found = parts(letter, layout)
    requests: list[Request] = []
    if asked.header and found.header.strip():
        requests.append(request("header", found.header))
    if asked.summary and found.summary.strip():
        requests.append(request("patient", found.summary))
    requests.extend(
        request("item", block, index) for index, block in enumerate(found.items) if asked.item(index)
    )
    return requests


def too_long(asked: Sequence[Request], *, context_tokens: int, max_tokens: int) -> str | None:
    """Why a request cannot be sent (a part longer than the model's context), or None."""
    for one in asked:
        size = one.estimated_tokens()
        if size + max_tokens > context_tokens:
            return f"the letter's {one.kind} part (~{size} tokens) exceeds the context ({context_tokens})"
    return None


def sections_read(answers: Sequence[Draft]) -> frozenset[str]:
    """The determination's sections the answers fill: what the model was asked about."""
    return frozenset(section for answer in answers for section in answer.reads)


def assemble(answers: Sequence[Draft], every_item: bool = True) -> schemas.Determination:
    """The schema's determination from one letter's answers, in the order they were asked
    (``every_item`` false: some item blocks were not asked about, so no item is no fault).

    Raises LLMInvalidOutput with the schema's reasons (and nothing else: pydantic's own message
    would repeat the answers, which quote the letter).
    """
    header, patient, items = HeaderDraft(), schemas.Patient(), []
    for answer in answers:
        if isinstance(answer, HeaderDraft):
            header = answer
        elif isinstance(answer, PatientDraft):
            patient = answer.to_patient()
        else:
            items.append(answer.to_item())
    data = {"case": header.to_case(), "reviewer": header.to_reviewer(), "patient": patient, "items": items}
    try:
        return schemas.Determination.model_validate(data, context=STRICT if every_item else DATES_ONLY)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        raise LLMInvalidOutput("; ".join(p["msg"].removeprefix("Value error, ") for p in problems)) from None
