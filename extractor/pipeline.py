"""One letter end to end: text -> sections -> rules pass (and LLM pass) -> cross-check -> record."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from extractor.confidence import confidence, flag_doubts, settle
from extractor.crosscheck import merge
from extractor.errors import LLMError, NotAnIMRLetter, TruncatedLetter, describe
from extractor.fields import path, value_paths
from extractor.layout import split_sections
from extractor.reading import SourceText, read_bytes, read_path, read_string
from extractor.rules import RulesResult, extract_rules
from extractor.schemas import Backend, Check, CheckStatus, Determination, Provenance, Record
from extractor.scope import Asked, Scope, doubtful_parts
from extractor.wholeness import wholeness_checks

if TYPE_CHECKING:
    from extractor.llm import LLMConfig, LLMResult

_log = logging.getLogger(__name__)

BackendChoice = Literal[Backend, "auto"]
"""What a caller may ask for; ``auto`` is hybrid when an LLM endpoint is configured, else rules."""

_IMR_MARKERS = ("independent medical review", "imr", "maximus", "final determination")
REQUIRED_CASE_FIELDS = ("case_number", "decision_date")
MISSING = "required field missing"


Source = str | bytes | os.PathLike[str] | SourceText
"""A letter as callers give it: a path, the letter's text, or a file's bytes (PDF or text)."""


def load(source: Source) -> SourceText:
    """A path (str or Path) that exists is read from disk; any other string is the letter itself;
    bytes are a file's content (a PDF by its magic number, else text)."""
    if isinstance(source, SourceText):
        return source
    if isinstance(source, bytes):
        return read_bytes(source, "<bytes>")
    if isinstance(source, os.PathLike):
        return read_path(source)
    looks_like_path = "\n" not in source and len(source) < 4096
    # A missing file named like a letter is "no such file", not "not an IMR letter".
    if looks_like_path and (Path(source).exists() or source.lower().endswith((".pdf", ".txt"))):
        return read_path(source)
    return read_string(source)


def check_letter(rules: RulesResult, text: str) -> None:
    """Refuse what is not an IMR determination, or one cut off before its decisions."""
    head = text[:6000].lower()
    known_sections = set(rules.sections.parts)
    if not any(marker in head for marker in _IMR_MARKERS) and not known_sections:
        raise NotAnIMRLetter("no IMR headings or markers found: not an IMR determination letter")
    if not rules.determination.items:
        if not (known_sections & {"decisions", "issues"}):
            raise TruncatedLetter("no decisions section: the letter looks truncated")
        raise TruncatedLetter("decisions section has no item with an Upheld/Overturned decision")


_LOOKED: dict[Backend, CheckStatus] = {"rules": "rules_only", "llm": "llm_only", "hybrid": "agree"}
"""A record-level check's status: which passes looked (in hybrid both did, and agree)."""
NO_HEADER = "; the letter has no header block, where the case number and dates are printed"


def review_checks(determination: Determination, backend: Backend, header_chars: int | None) -> list[Check]:
    """Checks every record carries: consistency problems and missing required fields.

    ``header_chars`` is the size of the text before the first section heading (None when no
    rules pass ran): a letter without a header (published as its body only) says so, since
    that, not a reading failure, is why its case number and decision date are missing.
    """
    status = _LOOKED[backend]
    checks = [
        Check(field=path(), status=status, review=True, note=f"inconsistent: {problem}")
        for problem in determination.problems()
    ]
    missing = MISSING + (NO_HEADER if header_chars == 0 else "")
    checks.extend(
        Check(field=path("case", name), status=status, review=True, note=missing)
        for name in REQUIRED_CASE_FIELDS
        if getattr(determination.case, name) is None
    )
    return checks


def resolve_backend(backend: BackendChoice, config: LLMConfig | None) -> Backend:
    """``auto`` is hybrid when an LLM endpoint is configured, else rules."""
    if backend != "auto":
        return backend
    if config is not None:
        return "hybrid"
    from extractor.llm.config import LLMConfig

    return "hybrid" if LLMConfig.is_configured() else "rules"


LLM_FAILED = "LLM pass failed"
"""How a hybrid record whose LLM pass failed says so (the start of its check's note)."""

OnLLMError = Literal["raise", "keep_rules"]
"""What a hybrid extraction does when the LLM pass fails after its retries: raise the typed
error, or keep the rules record with a check naming the failure (the batch's choice: a rerun
with ``--retry-llm`` completes it later)."""


def llm_failure(record: Record) -> str | None:
    """``LLM pass failed: KIND: reason`` when ``record`` is a hybrid record whose LLM pass failed."""
    return next((c.note for c in record.checks if c.note is not None and c.note.startswith(LLM_FAILED)), None)


def llm_failed(record: Record) -> bool:
    return llm_failure(record) is not None


def build_record(
    source: SourceText,
    rules: RulesResult | None,
    llm: LLMResult | None,
    started: float,
    llm_error: LLMError | None = None,
    asked: Asked | None = None,
) -> Record:
    """Assemble the record from whichever passes ran (``llm_error``: the LLM pass of a hybrid
    extraction failed, and the rules record stands alone, flagged; ``asked``: the parts a hybrid
    extraction asked the LLM about, nothing at all when the rules were sure of every one)."""
    if rules is not None and llm is not None:
        positions = llm.positions
        determination, evidence, checks = merge(rules, llm.determination, source.text, llm.read, positions)
        backend: Backend = "hybrid"
    elif rules is not None and llm_error is not None:
        kind, reason = describe(llm_error)
        failed = Check(field=path(), status="rules_only", review=True, note=f"{LLM_FAILED}: {kind}: {reason}")
        determination, evidence, checks = rules.determination, rules.evidence, [*rules.checks, failed]
        backend = "hybrid"
    elif rules is not None:
        determination, evidence, checks = rules.determination, rules.evidence, rules.checks
        backend = "rules" if asked is None else "hybrid"
    elif llm is not None:
        from extractor.grounding import LetterIndex, ground

        determination = llm.determination
        evidence, checks = ground(determination, LetterIndex(source.text))
        backend = "llm"
    else:  # pragma: no cover - callers always run one pass
        raise ValueError("no pass ran")
    sections = rules.sections if rules is not None else split_sections(source.text)
    header_chars = len(source.text[slice(*sections.header)].strip()) if rules is not None else None
    checks = [
        *checks,
        *review_checks(determination, backend, header_chars),
        *wholeness_checks(source.text, sections, _LOOKED[backend]),
    ]
    doubts = rules.doubts if rules is not None else ()
    scores = confidence(value_paths(determination), doubts, checks, llm=backend == "llm")
    status: CheckStatus = "llm_only" if backend == "llm" else "rules_only"
    unread = rules.unread if rules is not None else {}
    checks = flag_doubts(settle(checks, scores, unread), doubts, scores, status)
    provenance = Provenance(
        backend=backend,
        seconds=round(time.perf_counter() - started, 4),
        skipped=asked.skipped(len(determination.items)) if asked is not None else [],
    )
    if llm is not None:
        provenance = provenance.model_copy(
            update={
                "model": llm.model,
                "prompt_version": llm.prompt_version,
                "requests": llm.requests,
                "attempts": llm.attempts,
                "usage": llm.usage,
            }
        )
    record = Record(
        document=source.document(),
        determination=determination,
        evidence=evidence,
        confidence=scores,
        checks=checks,
        needs_review=any(check.review for check in checks),
        provenance=provenance,
    )
    _log_read(record)
    return record


def _log_read(record: Record) -> None:
    """At -v, per letter: how long it took and how much was read, by counts (never letter text),
    so a slow or thin letter in a batch can be found."""
    if not _log.isEnabledFor(logging.INFO):
        return
    determination = record.determination
    _log.info(
        "%s: %s in %.3f s: %d items, %d diagnoses, %d values with evidence, %d checks (%d flagged)",
        record.document.path,
        record.provenance.backend,
        record.provenance.seconds or 0.0,
        len(determination.items),
        len(determination.patient.diagnoses),
        len(record.evidence),
        len(record.checks),
        sum(check.review for check in record.checks),
    )


def _rules_pass(
    source: Source, backend: BackendChoice, config: LLMConfig | None
) -> tuple[SourceText, Backend, RulesResult]:
    """Read the letter and run the rules pass, which also decides whether it is a letter at all."""
    letter = load(source)
    rules = extract_rules(letter.text)
    check_letter(rules, letter.text)
    return letter, resolve_backend(backend, config), rules


def asks_header(chosen: Backend, rules: RulesResult) -> bool:
    """Whether the LLM pass must ask for the header and the credentials: always for the llm
    backend; in hybrid when the rules pass could not read them (the case number, the decision
    date, the reviewer's states and specialties), so that no request repeats what the rules read."""
    case, reviewer = rules.determination.case, rules.determination.reviewer
    read = None not in (case.case_number, case.decision_date) and bool(reviewer.licensure_states)
    return chosen == "llm" or not (read and bool(reviewer.specialties))


def asked_parts(chosen: Backend, rules: RulesResult, scope: Scope) -> Asked:
    """The parts of the letter the LLM pass asks about: every one for the llm backend and for
    hybrid's ``all`` scope (the header only when the rules could not read it); under
    ``doubtful``, only the parts holding a value the rules doubt or could not read."""
    header = asks_header(chosen, rules)
    if chosen == "llm" or scope == "all":
        return Asked(header=header)
    scores = confidence(value_paths(rules.determination), rules.doubts)
    return doubtful_parts(scores, rules.unread, header)


def _without_llm(
    error: LLMError, letter: SourceText, chosen: Backend, rules: RulesResult, started: float, on: OnLLMError
) -> Record:
    """The rules record, flagged, for a hybrid extraction asked to keep it; else the error."""
    if chosen == "llm" or on == "raise":
        raise error
    return build_record(letter, rules, None, started, llm_error=error)


def extract(
    source: Source,
    backend: BackendChoice = "rules",
    llm_config: LLMConfig | None = None,
    on_llm_error: OnLLMError = "raise",
) -> Record:
    """Extract one letter (a path, the letter's text, or a file's bytes) into a validated record.

    Raises an ``extractor.errors.ExtractionError`` subclass with a reason when the input
    cannot give a record (see :data:`OnLLMError` for a hybrid one whose LLM pass failed).
    """
    started = time.perf_counter()
    letter, chosen, rules = _rules_pass(source, backend, llm_config)
    if chosen == "rules":
        return build_record(letter, rules, None, started)
    from extractor.llm import LLMConfig, extract_with_llm

    config = llm_config or LLMConfig.from_env()
    asked = asked_parts(chosen, rules, config.scope)
    if chosen == "hybrid" and not asked.anything:
        return build_record(letter, rules, None, started, asked=asked)
    try:
        llm = extract_with_llm(letter.text, config, asked=asked)
    except LLMError as error:
        return _without_llm(error, letter, chosen, rules, started, on_llm_error)
    hybrid = chosen == "hybrid"
    return build_record(letter, rules if hybrid else None, llm, started, asked=asked if hybrid else None)


async def aextract(
    source: Source,
    backend: BackendChoice = "rules",
    llm_config: LLMConfig | None = None,
    on_llm_error: OnLLMError = "raise",
) -> Record:
    """The async twin of :func:`extract`: the LLM call awaits, the rules pass runs inline."""
    started = time.perf_counter()
    letter, chosen, rules = _rules_pass(source, backend, llm_config)
    if chosen == "rules":
        return build_record(letter, rules, None, started)
    from extractor.llm import LLMConfig, aextract_with_llm

    config = llm_config or LLMConfig.from_env()
    asked = asked_parts(chosen, rules, config.scope)
    if chosen == "hybrid" and not asked.anything:
        return build_record(letter, rules, None, started, asked=asked)
    try:
        llm = await aextract_with_llm(letter.text, config, asked=asked)
    except LLMError as error:
        return _without_llm(error, letter, chosen, rules, started, on_llm_error)
    hybrid = chosen == "hybrid"
    return build_record(letter, rules if hybrid else None, llm, started, asked=asked if hybrid else None)
