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


class MissingCassette(LLMError):
    """Replay found no recorded answer for this request (prompt, schema or model changed)."""

    kind = "missing_cassette"


class NotARegularFile(InputError):
    """A FIFO, device, socket or directory named as a letter: refused before it is read."""

    kind = "not_a_regular_file"


class PDFTooComplex(InputError):
    """Reading the PDF went past its memory, CPU or time limit (see extractor.limits)."""

    kind = "pdf_too_complex"
