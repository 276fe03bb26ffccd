"""The LLM pass: instructor over the official openai client, for any OpenAI-compatible endpoint.

Every HTTP call is counted and every response's usage summed (through instructor's hooks, so
answers that failed validation count too); the per-letter token budget is checked before each
request and handed to instructor to stop its re-asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import itertools
import logging
import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import instructor
import openai
from instructor.core.hooks import Hooks
from pydantic import BaseModel

from extractor import schemas
from extractor.errors import LLMBudgetExceeded, LLMContextExceeded
from extractor.layout import Layout
from extractor.llm.config import PROGRESS_LOGGER, LLMConfig
from extractor.llm.deadline import AsyncDeadlineTransport, DeadlineTransport
from extractor.llm.prompting import Draft, Request, assemble, plan, prompt_version, sections_read, too_long
from extractor.llm.retry import async_retrying, retrying, typed_errors
from extractor.scope import ALL, Asked

# Without a handler of its own, instructor's error log lines (which quote the model's
# answer) would reach stderr through logging's last-resort handler.
logging.getLogger("instructor").addHandler(logging.NullHandler())


def _reject_async_validators_once() -> None:
    """Make instructor's refusal of async validators look at each response model once.

    instructor walks the whole response model on every create() to refuse its own async
    validators, and its answer depends on the class alone: ~2 ms of event-loop CPU per request
    that, at 128 concurrent requests, held a batch to 0.70 of its ideal rate (0.80 with this).
    A class that fails the check still raises every time.
    """
    module = importlib.import_module("instructor.v2.validation.async_validators")
    check = getattr(module, "reject_async_validators", None)
    if check is None or hasattr(check, "__wrapped__"):
        return
    passed: weakref.WeakSet[type] = weakref.WeakSet()

    @functools.wraps(check)
    def once(response_model: Any) -> None:
        if isinstance(response_model, type) and response_model in passed:
            return
        check(response_model)
        if isinstance(response_model, type):
            passed.add(response_model)

    setattr(module, "reject_async_validators", once)  # noqa: B010 (mypy cannot see the name)


_reject_async_validators_once()

LOG_BODIES = "EXTRACTOR_LOG_REQUEST_BODIES"
"""Set to 1 to let the openai client's DEBUG lines, which quote whole requests (letters), through."""


def _no_request_bodies(record: logging.LogRecord) -> bool:
    """The openai client logs each request's options, the letter included, at DEBUG: a library
    user's ``logging.basicConfig(level=logging.DEBUG)`` must not put medical records in a log."""
    return record.levelno > logging.DEBUG or os.environ.get(LOG_BODIES) == "1"


logging.getLogger("openai._base_client").addFilter(_no_request_bodies)
_progress = logging.getLogger(PROGRESS_LOGGER)
_PARTS = {"header": "the header", "patient": "the case summary"}


def _said(asked: list[Request]) -> list[str]:
    """What each request asks about, as a person reads it: the header, the case summary, item N."""
    items = itertools.count(1)
    return [_PARTS.get(request.kind) or f"item {next(items)}" for request in asked]


M = TypeVar("M", bound=BaseModel)

_NO_KEY = "unused"
"""Local servers want no key, but the openai client refuses to start without one."""


@dataclass(frozen=True)
class LLMResult:
    """What the LLM pass read from one letter, and what it cost."""

    determination: schemas.Determination
    read: frozenset[str]
    """The determination's sections the model was asked about ("case", "reviewer", "patient",
    "items"); the others are empty because nobody asked, not because the letter states none."""
    model: str
    prompt_version: str | None
    """The prompt versions of the kinds of request the letter was sent
    (:func:`extractor.llm.prompting.prompt_version`); None when it was sent none."""
    attempts: int
    """Every HTTP call made: transport retries and validation re-asks included."""
    usage: schemas.Usage
    """Summed over every call that answered, valid or not."""
    seconds: float
    positions: tuple[int, ...] | None = None
    """The item block each of ``determination.items`` answers, by its place among the letter's
    blocks (None: one per block, in order)."""
    requests: int = 0
    """The requests the letter's parts took (retries and re-asks apart)."""


def _response_schema(model: type[M]) -> type[M]:
    """instructor's wrapper class of ``model``, made once.

    Given the plain model, instructor makes a new wrapper class on every call, so its own
    schema cache (keyed on the class) never hits: ~10 ms of CPU per request, which is what
    held a concurrent batch below its ideal rate.  The request sent is the same.
    """
    return cast("type[M]", _wrapped(model))


@functools.cache
def _wrapped(model: type[BaseModel]) -> type[BaseModel]:
    return instructor.openai_schema(model)


ANSWER_BYTES_PER_TOKEN = 64
"""Room in an HTTP answer for each completion token asked (``max_tokens``): a token is a few
characters, a tool call's arguments are JSON inside JSON; the recorded answers take at most 22
bytes a completion token, envelope included."""
ANSWER_ENVELOPE_BYTES = 64 * 1024
"""Room for what surrounds the model's tokens: ids, usage, the tool call's name."""


def answer_limit(config: LLMConfig) -> int:
    """The most bytes read of one answer: an answer of ``max_tokens`` tokens fits, a 50 MB one is
    refused after this much (it took 6.3 GB in a hybrid extraction)."""
    return ANSWER_ENVELOPE_BYTES + ANSWER_BYTES_PER_TOKEN * config.max_tokens


def _openai_options(config: LLMConfig) -> dict[str, Any]:
    return {
        "base_url": config.base_url,
        "api_key": config.api_key.get_secret_value() if config.api_key else _NO_KEY,
        "timeout": config.timeout,
        "max_retries": 0,  # tenacity retries, once, with our policy
    }


def _openai(config: LLMConfig) -> openai.OpenAI:
    """The openai client, each request of it bounded as a whole by ``config.timeout`` and its
    answer by :func:`answer_limit`."""
    transport = DeadlineTransport(config.timeout, answer_limit(config))
    return openai.OpenAI(
        **_openai_options(config), http_client=openai.DefaultHttpxClient(transport=transport)
    )


def _async_openai(config: LLMConfig) -> openai.AsyncOpenAI:
    transport = AsyncDeadlineTransport(config.timeout, answer_limit(config))
    return openai.AsyncOpenAI(
        **_openai_options(config), http_client=openai.DefaultAsyncHttpxClient(transport=transport)
    )


def make_client(config: LLMConfig) -> instructor.Instructor:
    """A client to share between letters; close it with ``client.client.close()``."""
    return instructor.from_openai(_openai(config), mode=config.instructor_mode)


def make_async_client(config: LLMConfig) -> instructor.AsyncInstructor:
    """The async twin of :func:`make_client`; one per event loop."""
    return instructor.from_openai(_async_openai(config), mode=config.instructor_mode)


class _Meter:
    """The calls made and tokens used for one letter, fed by instructor's hooks."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.calls = 0
        self.usage = schemas.Usage()
        self.hooks = Hooks()
        self.hooks.on("completion:kwargs", self._called)
        self.hooks.on("completion:response", self._answered)

    def _called(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1

    def _answered(self, response: Any) -> None:
        usage = getattr(response, "usage", None)
        if usage is not None:
            self.usage += schemas.Usage(
                prompt_tokens=usage.prompt_tokens or 0,
                completion_tokens=usage.completion_tokens or 0,
            )

    @property
    def used(self) -> int:
        return self.usage.prompt_tokens + self.usage.completion_tokens

    def check(self) -> None:
        if self.used >= self.budget:
            raise LLMBudgetExceeded(
                f"token budget of {self.budget} used up ({self.used} tokens in {self.calls} calls)"
            )


def _options(config: LLMConfig, meter: _Meter) -> dict[str, Any]:
    """Everything of a create() call but the request; checks the budget first."""
    meter.check()
    return {
        "model": config.model,
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "max_retries": config.max_retries,
        "token_budget": meter.budget - meter.used,
        "strict": False,  # lax parsing ("58" is 58); consistency is the draft's validator
        "hooks": meter.hooks,
    }


def _sequence(text: str, config: LLMConfig, asked: Asked, layout: Layout | None) -> list[Request]:
    """The requests for the parts ``asked`` names; raises LLMContextExceeded when a part cannot
    fit the context."""
    requests = plan(text, asked, layout)
    reason = too_long(requests, context_tokens=config.context_tokens, max_tokens=config.max_tokens)
    if reason is not None:
        raise LLMContextExceeded(reason)
    return requests


def extract_with_llm(
    text: str,
    config: LLMConfig,
    *,
    client: instructor.Instructor | None = None,
    asked: Asked = ALL,
    layout: Layout | None = None,
) -> LLMResult:
    """Read ``text`` with the model, one request per part ``asked`` names, in sequence; raises an
    ``extractor.errors.LLMError`` on failure.

    Pass a :func:`make_client` client to reuse its connections across letters, and ``asked``
    without the header when it is known already (the rules pass read it), or only the parts the
    rules pass doubts (hybrid's ``doubtful`` scope); ``layout``: the letter's, when the rules
    pass has found it already.
    """
    if client is None:
        with _openai(config) as raw:
            own = instructor.from_openai(raw, mode=config.instructor_mode)
            return extract_with_llm(text, config, client=own, asked=asked, layout=layout)
    started = time.perf_counter()
    meter = _Meter(config.token_budget)
    answers: list[Draft] = []
    requests = _sequence(text, config, asked, layout)
    for number, (request, part) in enumerate(zip(requests, _said(requests), strict=True), start=1):
        _progress.info("asking the model about %s (%d of %d)", part, number, len(requests))

        def call(request: Request = request) -> Draft:
            return client.chat.completions.create(
                response_model=_response_schema(request.response_model),
                messages=request.messages,
                **_options(config, meter),
            )

        with typed_errors(config):
            answers.append(retrying(config)(call))
    return _result(answers, requests, asked, config, meter, started)


async def aextract_with_llm(
    text: str,
    config: LLMConfig,
    *,
    client: instructor.AsyncInstructor | None = None,
    asked: Asked = ALL,
    slots: asyncio.Semaphore | None = None,
    layout: Layout | None = None,
) -> LLMResult:
    """The async twin of :func:`extract_with_llm`: a letter's requests go at once when
    ``config.parallel_calls`` says so, each holding one of ``slots`` (shared by a batch, so that
    its concurrency counts requests, not letters)."""
    if client is None:
        async with _async_openai(config) as raw:
            own = instructor.from_openai(raw, mode=config.instructor_mode)
            return await aextract_with_llm(text, config, client=own, asked=asked, slots=slots, layout=layout)
    started = time.perf_counter()
    meter = _Meter(config.token_budget)

    async def one(request: Request) -> Draft:
        async def call() -> Draft:
            return await client.chat.completions.create(
                response_model=_response_schema(request.response_model),
                messages=request.messages,
                **_options(config, meter),
            )

        async with slots or contextlib.nullcontext():
            with typed_errors(config):
                return await async_retrying(config)(call)

    requests = _sequence(text, config, asked, layout)
    if not config.parallel_calls:
        answers = [await one(request) for request in requests]
    else:
        try:
            async with asyncio.TaskGroup() as group:
                running = [group.create_task(one(request)) for request in requests]
        except ExceptionGroup as failed:  # the first failure, as a letter's one error
            raise failed.exceptions[0] from None
        answers = [task.result() for task in running]
    return _result(answers, requests, asked, config, meter, started)


def _result(
    answers: list[Draft],
    requests: Sequence[Request],
    asked: Asked,
    config: LLMConfig,
    meter: _Meter,
    started: float,
) -> LLMResult:
    return LLMResult(
        determination=assemble(answers, every_item=asked.items is None),
        read=sections_read(answers),
        model=config.model,
        prompt_version=prompt_version(request.kind for request in requests) or None,
        attempts=meter.calls,
        usage=meter.usage,
        seconds=round(time.perf_counter() - started, 3),
        positions=tuple(request.index for request in requests if request.index is not None),
        requests=len(requests),
    )
