"""Retry-After, what counts as transient, the backoff policy and the mapping to typed errors."""

from __future__ import annotations

import datetime as dt
import json

import httpx2
import openai
import pytest
from instructor.core.exceptions import (
    FailedAttempt,
    IncompleteOutputException,
    InstructorRetryException,
    TokenBudgetExceeded,
)
from pydantic import BaseModel, ValidationError
from tenacity import Retrying

from extractor.errors import (
    LLMBudgetExceeded,
    LLMConnectionError,
    LLMError,
    LLMInvalidOutput,
    LLMRateLimited,
    LLMServerError,
    LLMTimeout,
)
from extractor.llm import LLMConfig
from extractor.llm.retry import as_llm_error, is_transient, parse_retry_after, transport_policy

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
REQUEST = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
CONFIG = LLMConfig(transport_retries=2, backoff_initial=0.5, backoff_max=10, timeout=7)


def _status(cls: type[openai.APIStatusError], code: int, **headers: str) -> openai.APIStatusError:
    return cls("failed", response=httpx2.Response(code, headers=headers, request=REQUEST), body=None)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("2.5", 2.5),
        (" 7 ", 7.0),
        ("-3", 0.0),
        ("Wed, 01 May 2024 12:00:30 GMT", 30.0),
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),
        ("soon", None),
        ("inf", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def _refused() -> openai.APIConnectionError:
    """How the openai client reports the transport refusing an answer over the size limit."""
    wrapped = openai.APIConnectionError(request=REQUEST)
    wrapped.__cause__ = LLMInvalidOutput("the answer is longer than the 10 bytes an answer can take")
    return wrapped


def _unread(cause: BaseException) -> InstructorRetryException:
    """What instructor raises when reading the body failed before any attempt could be kept."""
    wrapped = InstructorRetryException("x", n_attempts=1, total_usage=0)
    wrapped.__cause__ = cause
    return wrapped


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_status(openai.RateLimitError, 429), True),
        (_status(openai.InternalServerError, 503), True),
        (openai.APITimeoutError(REQUEST), True),
        (openai.APIConnectionError(request=REQUEST), True),
        (_status(openai.BadRequestError, 400), False),
        (_status(openai.AuthenticationError, 401), False),
        (ValueError("bad json"), False),
        (_refused(), False),  # an answer too large: the openai client calls it a connection error
    ],
)
def test_only_transport_faults_are_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient
    wrapped = InstructorRetryException("x", n_attempts=1, total_usage=0)
    wrapped.__cause__ = error
    assert is_transient(wrapped) is transient


def _run(failures: list[Exception], config: LLMConfig) -> tuple[int, list[float]]:
    """Run the policy over a call that fails with ``failures`` in turn, then succeeds."""
    waits: list[float] = []
    calls = 0

    def call() -> str:
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)
        return "ok"

    Retrying(sleep=waits.append, **transport_policy(config))(call)
    return calls, waits


def test_retry_after_is_believed_and_backoff_is_capped() -> None:
    failures: list[Exception] = [
        _status(openai.RateLimitError, 429, **{"retry-after": "3"}),
        _status(openai.InternalServerError, 500),
    ]
    calls, waits = _run(failures, CONFIG)
    assert calls == 3
    assert waits[0] == 3.0
    assert 0.5 <= waits[1] <= 10


def test_a_retry_after_longer_than_the_cap_gives_up_at_once() -> None:
    error = _status(openai.RateLimitError, 429, **{"retry-after": "3600"})
    with pytest.raises(openai.RateLimitError):
        _run([error], CONFIG)
    mapped = as_llm_error(error, CONFIG)
    assert isinstance(mapped, LLMRateLimited)
    assert "asked to wait 3600 s" in mapped.message


def test_retries_stop_after_the_configured_count() -> None:
    failures: list[Exception] = [openai.APITimeoutError(REQUEST) for _ in range(5)]
    with pytest.raises(openai.APITimeoutError):
        _run(failures, CONFIG)
    assert len(failures) == 5 - (CONFIG.transport_retries + 1)


class _Model(BaseModel):
    age: int


def _validation_error() -> ValidationError:
    try:
        _Model.model_validate({"age": "SECRET-LETTER-TEXT"})
    except ValidationError as error:
        return error
    raise AssertionError("unreachable")


def _retry_exception(last: Exception) -> InstructorRetryException:
    return InstructorRetryException(
        "x", n_attempts=3, total_usage=0, failed_attempts=[FailedAttempt(3, last, None)]
    )


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (openai.APITimeoutError(REQUEST), LLMTimeout, "within 7 s"),
        (openai.APIConnectionError(request=REQUEST), LLMConnectionError, "cannot connect"),
        (_status(openai.RateLimitError, 429), LLMRateLimited, "HTTP 429"),
        (_status(openai.InternalServerError, 502), LLMServerError, "HTTP 502"),
        (_status(openai.AuthenticationError, 401), LLMError, "HTTP 401"),
        (_validation_error(), LLMInvalidOutput, "age: Input should be a valid integer"),
        (_retry_exception(_validation_error()), LLMInvalidOutput, "in 3 attempts"),
        (_retry_exception(json.JSONDecodeError("x", "doc", 0)), LLMInvalidOutput, "not valid JSON"),
        (IncompleteOutputException(), LLMInvalidOutput, "cut off at max_tokens=2048"),
        (TokenBudgetExceeded("x", budget=10, n_attempts=2, total_usage=0), LLMBudgetExceeded, "budget"),
        (_refused(), LLMInvalidOutput, "longer than the 10 bytes"),
        (_unread(RecursionError("deep")), LLMInvalidOutput, "the answer is nested too deep to read"),
        (_unread(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "x")), LLMInvalidOutput, "not UTF-8"),
        (_unread(json.JSONDecodeError("x", "doc", 0)), LLMInvalidOutput, "not valid JSON"),
        (_unread(TypeError("'int' object is not subscriptable")), LLMInvalidOutput, "not a chat completion"),
    ],
)
def test_final_failures_map_to_typed_errors(error: Exception, kind: type[LLMError], words: str) -> None:
    mapped = as_llm_error(error, CONFIG)
    assert type(mapped) is kind
    assert mapped is not None
    assert words in mapped.message
    assert "SECRET-LETTER-TEXT" not in mapped.message


def test_an_api_error_wrapped_by_instructor_maps_by_its_cause() -> None:
    wrapped = InstructorRetryException("x", n_attempts=1, total_usage=0)
    wrapped.__cause__ = _status(openai.InternalServerError, 500)
    assert isinstance(as_llm_error(wrapped, CONFIG), LLMServerError)


def test_dates_in_consistency_reasons_are_not_repeated() -> None:
    class Dated(BaseModel):
        when: str

        def model_post_init(self, context: object) -> None:
            raise ValueError("date_of_injury 2016-12-01 is after ur_denial_date 2016-11-03")

    with pytest.raises(ValidationError) as caught:
        Dated(when="x")
    mapped = as_llm_error(caught.value, CONFIG)
    assert mapped is not None
    assert "2016" not in mapped.message
    assert "date_of_injury <date> is after ur_denial_date <date>" in mapped.message


def test_bugs_are_not_disguised() -> None:
    assert as_llm_error(RuntimeError("bug"), CONFIG) is None
    assert as_llm_error(InstructorRetryException("x", n_attempts=1, total_usage=0), CONFIG) is None
    assert as_llm_error(_unread(RuntimeError("bug")), CONFIG) is None
