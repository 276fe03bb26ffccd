"""Typed failures: every error a user sees names its kind and a reason, never letter text."""

from __future__ import annotations


class ExtractionError(Exception):
    """Base of every failure the extractor reports for one document.

    ``kind`` is the stable machine-readable type written to errors.jsonl; the message is a
    short human reason and must never contain text from the letter.
    """

    kind = "extraction_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(ExtractionError):
    """The file cannot be read as a letter at all."""

    kind = "input_error"


class EmptyDocument(InputError):
    kind = "empty_document"


class UnreadablePDF(InputError):
    kind = "unreadable_pdf"


class EncryptedPDF(InputError):
    kind = "password_protected"


class DocumentTooLarge(InputError):
    kind = "too_large"


class BinaryDocument(InputError):
    kind = "binary_document"


class NotAnIMRLetter(ExtractionError):
    kind = "not_imr_letter"


class TruncatedLetter(ExtractionError):
    kind = "truncated_letter"


class LLMError(ExtractionError):
    """The LLM pass failed after its retries."""

    kind = "llm_error"


class LLMTimeout(LLMError):
    kind = "llm_timeout"


class LLMRateLimited(LLMError):
    kind = "llm_rate_limited"


class LLMServerError(LLMError):
    kind = "llm_server_error"


class LLMConnectionError(LLMError):
    kind = "llm_connection_error"


class LLMInvalidOutput(LLMError):
    kind = "llm_invalid_output"


class LLMBudgetExceeded(LLMError):
    kind = "llm_budget_exceeded"


class LLMContextExceeded(LLMError):
    """A part of the letter is longer than the model's context: no request could hold it."""

    kind = "llm_context_exceeded"


class WorkerCrashed(ExtractionError):
    """A batch worker process died twice with the letter in flight (a crash reading it, the OOM killer)."""

    kind = "worker_crashed"


class NotARegularFile(InputError):
    """A FIFO, device, socket or directory named as a letter: refused before it is read."""

    kind = "not_a_regular_file"


class PDFTooComplex(InputError):
    """Reading the PDF went past its memory, CPU or time limit (see extractor.limits)."""

    kind = "pdf_too_complex"


# --------------------------------------------------------------------------- not about one letter


class LedgerError(Exception):
    """A batch's output folder is in a state the batch will not guess about; the message says why."""


class UnsafeTarget(Exception):
    """A file to be written exists as something replacing would destroy (a device, a FIFO, a folder)."""


class InputNotFound(ValueError):
    """A batch INPUT argument names nothing: the batch does not start."""


class ResultsFileError(ValueError):
    """The --ingest file is not a Batch API output file of requests this batch wrote."""


class LocalServerError(RuntimeError):
    """The local model cannot be assembled or served; the message says what to do."""


class ChecksumMismatch(LocalServerError):
    """The assembled model file is not the pinned one: it is discarded, never served."""


INTERNAL_ERROR = "internal_error"
"""The kind of a failure that is a bug rather than a property of the input."""


def describe(error: BaseException) -> tuple[str, str]:
    """``(kind, reason)`` of a failure as every user-facing line shows it.

    A typed error says its own; anything else is a bug, shown by its type only (its text may
    quote the letter).
    """
    if isinstance(error, ExtractionError):
        return error.kind, error.message
    return INTERNAL_ERROR, f"unexpected {type(error).__name__} (run with -vv to see it)"


def fail_line(path: str, error: BaseException) -> str:
    """The one line a user sees for a file that gave no record (never letter text)."""
    kind, reason = describe(error)
    return f"{path}: {kind}: {reason}"
