"""The LLM pass end to end against a scripted OpenAI-compatible server on 127.0.0.1.

The server (``support.fake_openai.FakeOpenAI``) answers each POST with the next scripted step
(chat completions in the tool-call format of instructor's TOOLS mode) and records what it was
sent, so the tests see exactly what went over HTTP: re-asks, transport retries, the key, the letter.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from extractor import schemas
from extractor.errors import (
    LLMBudgetExceeded,
    LLMConnectionError,
    LLMContextExceeded,
    LLMError,
    LLMInvalidOutput,
    LLMRateLimited,
    LLMServerError,
    LLMTimeout,
)
from extractor.llm import (
    LLMConfig,
    LLMResult,
    aextract_with_llm,
    client,
    extract_with_llm,
    make_client,
    prompt_version,
)
from extractor.llm.drafts import ItemDraft
from extractor.scope import Asked
from support.fake_openai import FakeOpenAI, Step, completion, delay, perfect, respond, status

KEY = "sk-test-key-never-shown"
MARKER = "ZEBRA-LETTER-MARKER"
LETTER = f"""HOW THE IMR FINAL DETERMINATION WAS MADE
The expert reviewer is licensed to practice in California.
CLINICAL CASE SUMMARY
This is a 58 year-old male who was injured on 6/25/13. {MARKER}
IMR ISSUES, DECISIONS AND RATIONALES
The Final Determination was based on decisions for the disputed items/services set forth below:
MRI of the right shoulder: Upheld
Decision rationale: The request is not medically necessary.
Physical therapy 8 sessions: Overturned
Decision rationale: The request is medically necessary.
"""


@pytest.fixture
def endpoint() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake
    assert fake.errors == []


def _config(endpoint: FakeOpenAI, **changes: Any) -> LLMConfig:
    settings: dict[str, Any] = {
        "base_url": endpoint.base_url,
        "api_key": KEY,
        "model": "test-model",
        "timeout": 5,
        "transport_retries": 2,
        "max_retries": 1,
        "backoff_initial": 0,
        "backoff_max": 1,
    }
    return LLMConfig(**{**settings, **changes})


CITED = {"source": "MTUS", "title": "Shoulder Complaints 2004", "sections": [], "pages": []}
"""The model cites it so; the chapter is read from its title in code (extractor.chapters)."""
ITEM: dict[str, Any] = {
    "request": "MRI of the right shoulder",
    "decision": "Upheld",
    "original_request": None,
    "category": "imaging",
    "body_regions": [{"region": "shoulder", "side": "right"}],
    "authorized": None,
    "claims_administrator_guidelines": [],
    "reviewer_guidelines": [CITED],
}
ITEMS = [
    ITEM,
    {**ITEM, "request": "Physical therapy 8 sessions", "decision": "Overturned", "body_regions": []},
]
HEADER: dict[str, Any] = {
    "case": {"date_of_injury": "2013-06-25"},
    "reviewer": {"licensure_states": ["CA"], "specialties": [], "subspecialties": []},
}
PATIENT: dict[str, Any] = {"age": 58, "sex": "male", "diagnoses": [], "mechanism_of_injury": None}
DETERMINATION: dict[str, Any] = {
    **HEADER,
    "patient": PATIENT,
    "items": [
        {**item, "reviewer_guidelines": [{**CITED, "chapter": "Shoulder Complaints"}]} for item in ITEMS
    ],
}
INCONSISTENT: dict[str, Any] = {
    **HEADER,
    "case": {"date_of_injury": "2013-06-25", "ur_denial_date": "2012-01-01"},
}
"""A header whose dates are out of order: the schema refuses it, so it is re-asked."""
REQUESTS = 4
"""The letter is asked in four requests: header, summary and its two items."""


def answer(
    arguments: dict[str, Any],
    *,
    name: str = "Header",
    prompt: int = 100,
    completion_tokens: int = 20,
    finish_reason: str | None = None,
) -> Step:
    """A ``chat.completion`` whose one tool call of ``name`` carries ``arguments``."""
    return completion(
        arguments,
        name=name,
        shape="tool",
        usage=(prompt, completion_tokens),
        finish_reason=finish_reason,
    )


def rest(prompt: int = 100) -> list[Step]:
    """The answers to the requests after the header's, in the order they are asked."""
    return [answer(PATIENT, name="Patient", prompt=prompt)] + [
        answer(i, name="Item", prompt=prompt) for i in ITEMS
    ]


def test_each_part_is_one_request_and_the_answers_make_the_determination(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(answer(HEADER), *rest())
    result = extract_with_llm(LETTER, _config(endpoint))
    assert result.determination == schemas.Determination.model_validate(DETERMINATION)
    assert (result.attempts, result.usage) == (
        REQUESTS,
        schemas.Usage(prompt_tokens=400, completion_tokens=80),
    )
    assert (result.model, result.prompt_version) == ("test-model", prompt_version())
    assert result.read == {"case", "reviewer", "patient", "items"}
    sent = [r.json for r in endpoint.requests]
    assert {s["temperature"] for s in sent} == {0}
    assert {s["model"] for s in sent} == {"test-model"}
    assert [s["tool_choice"]["function"]["name"] for s in sent] == ["Header", "Patient", "Item", "Item"]
    assert "MRI of the right shoulder: Upheld" in sent[2]["messages"][1]["content"]
    assert MARKER in sent[1]["messages"][1]["content"]
    assert not [s for s in sent if "Decision rationale" in s["messages"][1]["content"]]
    assert {r.headers.get("authorization") for r in endpoint.requests} == {f"Bearer {KEY}"}


def test_an_invalid_answer_is_re_asked_with_the_reason(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(
        answer(INCONSISTENT, prompt=100, completion_tokens=20), answer(HEADER, prompt=150), *rest()
    )
    result = extract_with_llm(LETTER, _config(endpoint))
    assert result.attempts == REQUESTS + 1
    assert result.usage == schemas.Usage(prompt_tokens=550, completion_tokens=100)
    re_ask = json.dumps(endpoint.requests[1].json["messages"])
    assert "date_of_injury 2013-06-25 is after ur_denial_date 2012-01-01" in re_ask
    assert result.determination.case.ur_denial_date is None


def test_answers_invalid_on_every_attempt_are_invalid_output(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(answer(INCONSISTENT), answer(INCONSISTENT))
    with pytest.raises(LLMInvalidOutput, match="no valid answer in 2 attempts") as caught:
        extract_with_llm(LETTER, _config(endpoint, max_retries=1))
    assert endpoint.count() == 2
    assert MARKER not in caught.value.message
    assert "2013" not in caught.value.message


def test_a_rate_limit_is_retried_after_the_wait_it_asks(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(status(429, headers={"Retry-After": "0"}), answer(HEADER), *rest())
    result = extract_with_llm(LETTER, _config(endpoint))
    assert result.attempts == REQUESTS + 1
    assert result.usage == schemas.Usage(prompt_tokens=400, completion_tokens=80)


def test_a_long_retry_after_gives_up_rate_limited(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(status(429, headers={"Retry-After": "120"}))
    with pytest.raises(LLMRateLimited, match="asked to wait 120 s"):
        extract_with_llm(LETTER, _config(endpoint))
    assert endpoint.count() == 1


def test_server_errors_are_retried_then_reported(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(*[status(500)] * 3)
    with pytest.raises(LLMServerError, match="HTTP 500") as caught:
        extract_with_llm(LETTER, _config(endpoint, transport_retries=2))
    assert endpoint.count() == 3
    assert MARKER not in caught.value.message
    assert KEY not in caught.value.message


def test_a_failure_on_a_later_part_fails_the_letter_and_asks_no_more(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(answer(HEADER), answer(PATIENT, name="Patient"), *[status(500)] * 2)
    with pytest.raises(LLMServerError, match="HTTP 500"):
        extract_with_llm(LETTER, _config(endpoint, transport_retries=1))
    assert endpoint.count() == 4


def test_a_server_error_then_success_counts_both_calls(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(status(503), answer(INCONSISTENT), answer(HEADER), *rest())
    result = extract_with_llm(LETTER, _config(endpoint))
    assert result.attempts == REQUESTS + 2
    assert result.usage == schemas.Usage(prompt_tokens=500, completion_tokens=100)


def test_a_slow_answer_is_a_timeout(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(*[delay(0.6, answer(HEADER))] * 2)
    with pytest.raises(LLMTimeout, match=r"within 0\.2 s"):
        extract_with_llm(LETTER, _config(endpoint, timeout=0.2, transport_retries=1))
    assert endpoint.count() == 2


def test_no_server_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", transport_retries=1, backoff_initial=0)
    with pytest.raises(LLMConnectionError, match="2 tries"):
        extract_with_llm(LETTER, config)


def test_a_refused_request_is_not_retried(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(status(401))
    with pytest.raises(LLMError, match="HTTP 401") as caught:
        extract_with_llm(LETTER, _config(endpoint))
    assert type(caught.value) is LLMError
    assert endpoint.count() == 1


def test_a_truncated_answer_is_invalid_output(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(answer(HEADER, finish_reason="length"))
    with pytest.raises(LLMInvalidOutput, match="cut off at max_tokens=64"):
        extract_with_llm(LETTER, _config(endpoint, max_tokens=64))


def test_the_token_budget_stops_re_asks(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(answer(INCONSISTENT, prompt=900, completion_tokens=200), answer(HEADER))
    with pytest.raises(LLMBudgetExceeded, match="token budget of 1000"):
        extract_with_llm(LETTER, _config(endpoint, token_budget=1000, max_retries=3))
    assert endpoint.count() == 1


def test_no_request_starts_once_the_budget_is_spent(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(answer(HEADER, prompt=900, completion_tokens=200))
    with pytest.raises(LLMBudgetExceeded, match=r"1100 tokens in 1 calls"):
        extract_with_llm(LETTER, _config(endpoint, token_budget=1000))
    assert endpoint.count() == 1


def test_a_part_too_long_for_the_context_sends_nothing(endpoint: FakeOpenAI) -> None:
    with pytest.raises(LLMContextExceeded, match="exceeds the context"):
        extract_with_llm(LETTER, _config(endpoint, context_tokens=600, max_tokens=100))
    assert endpoint.count() == 0


def test_the_header_is_not_asked_when_the_caller_knows_it(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(*rest())
    result = extract_with_llm(LETTER, _config(endpoint), asked=Asked(header=False))
    assert result.read == {"patient", "items"}
    assert result.determination.case == schemas.Case()
    assert endpoint.count() == REQUESTS - 1


def test_a_shared_client_is_reused(endpoint: FakeOpenAI) -> None:
    config = _config(endpoint)
    endpoint.enqueue(answer(HEADER), *rest(), answer(HEADER), *rest())
    client = make_client(config)
    try:
        results = [extract_with_llm(LETTER, config, client=client) for _ in range(2)]
    finally:
        assert client.client is not None
        client.client.close()
    assert [r.attempts for r in results] == [REQUESTS, REQUESTS]


def test_the_async_twin(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(status(429, headers={"Retry-After": "0"}), answer(INCONSISTENT), answer(HEADER), *rest())
    result = asyncio.run(aextract_with_llm(LETTER, _config(endpoint)))
    assert result.attempts == REQUESTS + 2
    assert result.usage == schemas.Usage(prompt_tokens=500, completion_tokens=100)
    assert result.determination == schemas.Determination.model_validate(DETERMINATION)


def test_the_async_twin_maps_errors(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(*[status(502)] * 2)
    with pytest.raises(LLMServerError, match="HTTP 502"):
        asyncio.run(aextract_with_llm(LETTER, _config(endpoint, transport_retries=1)))


def test_concurrent_calls_hold_one_shared_slot_each_and_keep_the_letter_order() -> None:
    """With ``concurrent_calls`` the parts go at once, each holding a slot of the batch's
    semaphore; the answers still assemble in letter order, whatever order they arrive in."""
    with FakeOpenAI(default=respond(perfect), latency=0.2) as fake:
        config = _config(fake, concurrent_calls=True)

        async def run() -> tuple[LLMResult, int]:
            slots = asyncio.Semaphore(2)
            result = await aextract_with_llm(LETTER, config, slots=slots)
            return result, slots._value

        result, free = asyncio.run(run())
    assert free == 2
    assert [i.request for i in result.determination.items] == [
        "MRI of the right shoulder",
        "Physical therapy 8 sessions",
    ]
    assert fake.count() == REQUESTS
    assert fake.peak_in_flight == 2


def test_a_server_on_this_machine_is_asked_one_part_at_a_time() -> None:
    """A local server answers one request at a time and reuses the previous prompt's prefix."""
    with FakeOpenAI(default=respond(perfect), latency=0.1) as fake:
        config = _config(fake)
        assert not config.parallel_calls
        asyncio.run(aextract_with_llm(LETTER, config, slots=asyncio.Semaphore(8)))
    assert (fake.count(), fake.peak_in_flight) == (REQUESTS, 1)
    assert LLMConfig(base_url="https://llm.example.com/v1").parallel_calls


def test_instructor_checks_a_response_model_for_async_validators_once_and_still_refuses_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check instructor runs on every create() runs once per class: a model it passed is not
    walked again, and a model with an instructor async validator is refused every time."""
    module = importlib.import_module("instructor.v2.validation.async_validators")
    walked: list[Any] = []
    original = module.reject_async_validators.__wrapped__
    monkeypatch.setattr(
        module, "reject_async_validators", lambda model: (walked.append(model), original(model))
    )
    client._reject_async_validators_once()
    for _ in range(3):
        module.reject_async_validators(ItemDraft)
    assert walked == [ItemDraft]

    class Checked(BaseModel):
        name: str

        def _check(self) -> None: ...

        setattr(_check, module.ASYNC_VALIDATOR_KEY, True)

    for _ in range(2):
        with pytest.raises(ValueError, match="async validators are not supported"):
            module.reject_async_validators(Checked)
    assert walked == [ItemDraft, Checked, Checked]
