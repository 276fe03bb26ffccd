"""Transport retries and the mapping of final failures to the project's typed errors.

One policy per kind of failure: tenacity retries transport faults here (429, 5xx,
timeouts, refused connections) with capped exponential backoff and jitter, believing a
Retry-After; the openai client's own retries are off; instructor re-asks on invalid output;
the token budget (client.py) stops both.  Error messages name the reason and never carry
letter text or the key.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

import openai
from instructor.core.exceptions import (
    IncompleteOutputException,
    InstructorError,
    InstructorRetryException,
    TokenBudgetExceeded,
)
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_exponential_jitter,
)

from extractor.errors import (
    LLMBudgetExceeded,
    LLMConnectionError,
    LLMError,
    LLMInvalidOutput,
    LLMRateLimited,
    LLMServerError,
    LLMTimeout,
)
from extractor.llm.config import LLMConfig

log = logging.getLogger(__name__)


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds or an HTTP date; None if neither."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _causes(error: BaseException | None) -> Iterator[BaseException]:
    """``error`` and what caused it: instructor wraps a failed call, the openai client a transport's error."""
    while error is not None:
        yield error
        error = error.__cause__


def api_error(error: BaseException | None) -> openai.APIError | None:
    """The openai error behind ``error``."""
    return next((cause for cause in _causes(error) if isinstance(cause, openai.APIError)), None)


def refused(error: BaseException | None) -> LLMError | None:
    """The typed error a transport refused the answer with (one too large), which the openai
    client wraps as a connection error: final, not worth another try."""
    return next((cause for cause in _causes(error) if isinstance(cause, LLMError)), None)


def is_transient(error: BaseException) -> bool:
    """Worth another try of the same request: rate limits, server errors, timeouts, no connection."""
    return refused(error) is None and isinstance(
        api_error(error),
        (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError),
    )


def requested_wait(error: BaseException | None) -> float | None:
    """The wait a failed response asked for in its Retry-After header, if it did."""
    cause = api_error(error)
    if isinstance(cause, openai.APIStatusError):
        return parse_retry_after(cause.response.headers.get("retry-after"))
    return None


def _outcome(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


def transport_policy(config: LLMConfig) -> dict[str, Any]:
    """Keyword arguments of tenacity's Retrying/AsyncRetrying for ``config``."""
    backoff = wait_exponential_jitter(
        multiplier=config.backoff_initial, max=config.backoff_max, jitter=config.backoff_initial
    )

    def wait(state: RetryCallState) -> float:
        asked = requested_wait(_outcome(state))
        return asked if asked is not None else backoff(state)

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number > config.transport_retries:
            return True
        asked = requested_wait(_outcome(state))
        return asked is not None and asked > config.backoff_max  # not worth the wait

    def announce(state: RetryCallState) -> None:
        cause = api_error(_outcome(state))
        pause = state.next_action.sleep if state.next_action else 0.0
        log.warning("LLM request failed (%s); retrying in %.1f s", _describe(cause), pause)

    return {
        "stop": stop,
        "wait": wait,
        "retry": retry_if_exception(is_transient),
        "before_sleep": announce,
        "reraise": True,
    }


def retrying(config: LLMConfig) -> Retrying:
    return Retrying(**transport_policy(config))


def async_retrying(config: LLMConfig) -> AsyncRetrying:
    return AsyncRetrying(**transport_policy(config))


def _describe(cause: openai.APIError | None) -> str:
    if isinstance(cause, openai.APIStatusError):
        return f"HTTP {cause.status_code}"
    if isinstance(cause, openai.APITimeoutError):
        return "timeout"
    if isinstance(cause, openai.APIConnectionError):
        return "no connection"
    return type(cause).__name__


_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_NOT_A_COMPLETION = (TypeError, LookupError, AttributeError)
"""What reading JSON that is not a chat completion raises (``{"choices": 5}``)."""
_UNREADABLE = (ValueError, RecursionError, *_NOT_A_COMPLETION)
"""What reading an answer raises on a body that cannot be one: JSON and UTF-8 errors, nesting
too deep for the parser; instructor wraps them with no failed attempt to show."""


def _reasons(error: BaseException | None) -> str:
    """Why output was invalid: pydantic's messages without their input (letter text) and
    without the dates the schema's consistency reasons quote."""
    if isinstance(error, ValidationError):
        problems = error.errors(include_url=False, include_input=False)
        shown = [
            f"{'.'.join(map(str, p['loc'])) or 'answer'}: {_ISO_DATE.sub('<date>', p['msg'])}"
            for p in problems[:3]
        ]
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        return "; ".join(shown) + more
    if isinstance(error, json.JSONDecodeError):
        return "the answer is not valid JSON"
    if isinstance(error, UnicodeDecodeError):
        return "the answer is not UTF-8"
    if isinstance(error, RecursionError):
        return "the answer is nested too deep to read"
    if isinstance(error, _NOT_A_COMPLETION):
        return "the answer is not a chat completion"
    return type(error).__name__


@contextmanager
def typed_errors(config: LLMConfig) -> Iterator[None]:
    """Re-raise a final failure as its ``extractor.errors`` type; a bug goes through as it is."""
    try:
        yield
    except LLMError:
        raise
    except Exception as error:
        typed = as_llm_error(error, config)
        if typed is None:
            raise
        raise typed from error


def as_llm_error(error: BaseException, config: LLMConfig) -> LLMError | None:
    """The typed error a final failure maps to; None for a bug that should surface as-is."""
    if (typed := refused(error)) is not None:
        return typed
    if isinstance(error, TokenBudgetExceeded):
        return LLMBudgetExceeded(
            f"token budget of {config.token_budget} used up by invalid answers; no more re-asks"
        )
    cause = api_error(error)
    tries, at = config.transport_retries + 1, config.endpoint
    if isinstance(cause, openai.APITimeoutError):
        return LLMTimeout(f"no answer from {at} within {config.timeout:g} s ({tries} tries)")
    if isinstance(cause, openai.RateLimitError):
        asked = requested_wait(cause)
        if asked is not None and asked > config.backoff_max:
            return LLMRateLimited(
                f"rate limited (HTTP 429) by {at}, asked to wait {asked:g} s, "
                f"more than the {config.backoff_max:g} s allowed"
            )
        return LLMRateLimited(f"rate limited (HTTP 429) by {at} on all {tries} tries")
    if isinstance(cause, openai.InternalServerError):
        return LLMServerError(f"server error (HTTP {cause.status_code}) from {at} on all {tries} tries")
    if isinstance(cause, openai.APIConnectionError):
        return LLMConnectionError(f"cannot connect to the LLM endpoint at {at} ({tries} tries)")
    if isinstance(cause, openai.APIStatusError):
        return LLMError(f"the LLM endpoint at {at} refused the request (HTTP {cause.status_code})")
    if isinstance(error, IncompleteOutputException):
        return LLMInvalidOutput(f"the answer was cut off at max_tokens={config.max_tokens}")
    if isinstance(error, InstructorRetryException):
        failed = error.failed_attempts
        last = failed[-1].exception if failed else error.__cause__
        if failed or isinstance(last, _UNREADABLE):
            return LLMInvalidOutput(f"no valid answer in {error.n_attempts} attempts: {_reasons(last)}")
        return None  # the call itself failed, not with an API error or on the answer: a bug
    if isinstance(error, (InstructorError, ValidationError, json.JSONDecodeError)):
        return LLMInvalidOutput(f"invalid answer: {_reasons(error)}")
    return None
