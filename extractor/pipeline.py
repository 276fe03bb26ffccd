"""One letter end to end: text -> sections -> rules pass (and LLM pass) -> cross-check -> record."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from extractor.confidence import confidence, flag_doubts, settle
from extractor.crosscheck import merge
from extractor.errors import LLMError, NotAnIMRLetter, TruncatedLetter, describe
from extractor.fields import Pass, path, value_paths
from extractor.layout import Layout
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
    known_sections = set(rules.layout.sections.parts)
    if not any(marker in head for marker in _IMR_MARKERS) and not known_sections:
        raise NotAnIMRLetter("no IMR headings or markers found: not an IMR determination letter")
    if not rules.determination.items:
        if not (known_sections & {"decisions", "issues"}):
            raise TruncatedLetter("no decisions section: the letter looks truncated")
        raise TruncatedLetter("decisions section has no item with an Upheld/Overturned decision")


@dataclass(frozen=True)
class Passes:
    """What a backend runs besides the rules pass, which always runs: it decides whether the
    document is a letter at all, and finds the layout every other stage reads."""

    asks: bool
    """The LLM pass runs (on the parts :func:`asked_parts` names)."""
    keeps_rules: bool
    """The rules' values stand in the record, cross-checked with the LLM's answer where there is
    one; without it the LLM's answer is the record, grounded in the text."""
    compares: tuple[Backend, ...] = ()
    """The backends whose readings this one cross-checks: an eval scores them beside it."""

    @property
    def every_part(self) -> bool:
        """The LLM pass reads the whole letter, whatever the scope: nothing else would be read."""
        return self.asks and not self.keeps_rules

    @property
    def reads(self) -> frozenset[Pass]:
        """The passes whose readings the record holds."""
        passes: dict[Pass, bool] = {"rules": self.keeps_rules, "llm": self.asks}
        return frozenset(name for name, runs in passes.items() if runs)

    @property
    def looked(self) -> CheckStatus:
        """A record-level check's status: which passes looked (both, when they agree)."""
        if not self.asks:
            return "rules_only"
        return "agree" if self.keeps_rules else "llm_only"


BACKENDS: dict[Backend, Passes] = {
    "rules": Passes(asks=False, keeps_rules=True),
    "llm": Passes(asks=True, keeps_rules=False),
    "hybrid": Passes(asks=True, keeps_rules=True, compares=("rules", "llm")),
}
"""Every backend, by the passes it runs: a new backend is one entry here."""
NO_HEADER = "; the letter has no header block, where the case number and dates are printed"


def review_checks(determination: Determination, backend: Backend, header_chars: int | None) -> list[Check]:
    """Checks every record carries: consistency problems and missing required fields.

    ``header_chars`` is the size of the text before the first section heading (None when no
    rules pass ran): a letter without a header (published as its body only) says so, since
    that, not a reading failure, is why its case number and decision date are missing.
    """
    status = BACKENDS[backend].looked
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


@dataclass(frozen=True)
class Letter:
    """A letter read, checked and through the rules pass, with the parts its LLM pass will ask
    about: what :func:`ask` sends and :func:`finish` completes.  Plain data, so a batch may read
    a letter in one process and finish it in another."""

    source: SourceText
    rules: RulesResult
    backend: Backend
    asked: Asked | None
    """The parts the LLM pass asks about; None when the backend runs no LLM pass."""
    started: float
    """When reading began (``time.time()``), so the record's seconds cover every stage."""

    @property
    def layout(self) -> Layout:
        return self.rules.layout

    @property
    def needs_llm(self) -> bool:
        """Whether the LLM pass has anything to ask: not for the rules backend, nor in hybrid
        when the rules were sure of every part."""
        return self.asked is not None and self.asked.anything


def asks_header(chosen: Backend, rules: RulesResult) -> bool:
    """Whether the LLM pass must ask for the header and the credentials: always when it reads
    the whole letter; in hybrid when the rules pass could not read them (the case number, the
    decision date, the reviewer's states and specialties), so that no request repeats what the
    rules read."""
    case, reviewer = rules.determination.case, rules.determination.reviewer
    read = None not in (case.case_number, case.decision_date) and bool(reviewer.licensure_states)
    return BACKENDS[chosen].every_part or not (read and bool(reviewer.specialties))


def asked_parts(chosen: Backend, rules: RulesResult, scope: Scope) -> Asked:
    """The parts of the letter the LLM pass asks about: every one when it reads the whole letter
    and under hybrid's ``all`` scope (the header only when the rules could not read it); under
    ``doubtful``, only the parts holding a value the rules doubt or could not read."""
    header = asks_header(chosen, rules)
    if BACKENDS[chosen].every_part or scope == "all":
        return Asked(header=header)
    scores = confidence(value_paths(rules.determination), rules.doubts)
    return doubtful_parts(scores, rules.unread, header)


def read(source: Source, backend: BackendChoice = "rules", llm_config: LLMConfig | None = None) -> Letter:
    """Read the letter, find its layout and run the rules pass, which also decides whether it is
    a letter at all; then choose the parts the LLM pass will ask about (``llm_config``'s scope,
    else the environment's).

    Raises an ``extractor.errors.ExtractionError`` subclass with a reason when the input gives
    no letter.
    """
    started = time.time()
    letter = load(source)
    rules = extract_rules(letter.text)
    check_letter(rules, letter.text)
    chosen = resolve_backend(backend, llm_config)
    asked = None
    if BACKENDS[chosen].asks:
        asked = asked_parts(chosen, rules, _config(llm_config).scope)
    return Letter(letter, rules, chosen, asked, started)


def _config(config: LLMConfig | None) -> LLMConfig:
    """The endpoint given, else the one the environment configures."""
    if config is not None:
        return config
    from extractor.llm import LLMConfig

    return LLMConfig.from_env()


def ask(letter: Letter, llm_config: LLMConfig | None = None, **client: Any) -> LLMResult | LLMError:
    """The LLM pass of ``letter``, on the parts it asks about (``client``: passed through to
    ``extractor.llm.extract_with_llm``, e.g. a client reused across letters)."""
    from extractor.llm import extract_with_llm

    try:
        return extract_with_llm(
            letter.source.text, _config(llm_config), asked=_asked(letter), layout=letter.layout, **client
        )
    except LLMError as error:
        return error


async def aask(letter: Letter, llm_config: LLMConfig | None = None, **client: Any) -> LLMResult | LLMError:
    """The LLM pass of ``letter``, awaited (``client``: a shared client and request slots,
    passed through to ``extractor.llm.aextract_with_llm``)."""
    from extractor.llm import aextract_with_llm

    try:
        return await aextract_with_llm(
            letter.source.text, _config(llm_config), asked=_asked(letter), layout=letter.layout, **client
        )
    except LLMError as error:
        return error


def _asked(letter: Letter) -> Asked:
    if letter.asked is None:
        raise ValueError(f"the {letter.backend} backend asks the LLM nothing")
    return letter.asked


def finish(
    letter: Letter, answer: LLMResult | LLMError | None = None, on_llm_error: OnLLMError = "raise"
) -> Record:
    """The record of ``letter``: its rules record, the LLM's answer cross-checked with it, or the
    answer grounded in the text, as its backend says (``answer`` None: no LLM pass ran).

    An answer that is an error is raised, or, where the backend keeps the rules' values and
    ``on_llm_error`` is ``keep_rules``, the rules record stands alone with a check naming it.
    """
    passes = BACKENDS[letter.backend]
    if isinstance(answer, LLMError):
        if not passes.keeps_rules or on_llm_error == "raise":
            raise answer
        return _record(letter, None, answer)
    if answer is None and letter.needs_llm:
        raise ValueError(f"{letter.source.path}: the LLM pass has not answered")
    return _record(letter, answer, None)


def _record(letter: Letter, llm: LLMResult | None, llm_error: LLMError | None) -> Record:
    """Assemble the record from whichever passes ran."""
    source, rules, passes = letter.source, letter.rules, BACKENDS[letter.backend]
    if llm is not None and passes.keeps_rules:
        determination, evidence, checks = merge(
            rules, llm.determination, source.text, llm.read, llm.positions
        )
    elif llm is not None:
        from extractor.grounding import LetterIndex, ground

        determination = llm.determination
        evidence, checks = ground(determination, LetterIndex(source.text))
    elif llm_error is not None:
        kind, reason = describe(llm_error)
        failed = Check(field=path(), status="rules_only", review=True, note=f"{LLM_FAILED}: {kind}: {reason}")
        determination, evidence, checks = rules.determination, rules.evidence, [*rules.checks, failed]
    else:
        determination, evidence, checks = rules.determination, rules.evidence, rules.checks
    header_chars = len(source.text[slice(*letter.layout.sections.header)].strip())
    checks = [
        *checks,
        *review_checks(determination, letter.backend, header_chars if passes.keeps_rules else None),
        *wholeness_checks(source.text, letter.layout, passes.looked),
    ]
    doubts = rules.doubts if passes.keeps_rules else ()
    unread = rules.unread if passes.keeps_rules else {}
    scores = confidence(value_paths(determination), doubts, checks, llm=not passes.keeps_rules)
    status: CheckStatus = "rules_only" if passes.keeps_rules else "llm_only"
    checks = flag_doubts(settle(checks, scores, unread), doubts, scores, status)
    asked = letter.asked
    provenance = Provenance(
        backend=letter.backend,
        seconds=round(max(0.0, time.time() - letter.started), 4),
        skipped=asked.skipped(len(determination.items)) if asked is not None and passes.keeps_rules else [],
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
    letter = read(source, backend, llm_config)
    answer = ask(letter, llm_config) if letter.needs_llm else None
    return finish(letter, answer, on_llm_error)


async def aextract(
    source: Source,
    backend: BackendChoice = "rules",
    llm_config: LLMConfig | None = None,
    on_llm_error: OnLLMError = "raise",
) -> Record:
    """:func:`extract` with the LLM pass awaited; reading and the rules pass run inline."""
    letter = read(source, backend, llm_config)
    answer = await aask(letter, llm_config) if letter.needs_llm else None
    return finish(letter, answer, on_llm_error)
