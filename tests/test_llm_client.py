"""The LLM pass end to end against a scripted OpenAI-compatible server on 127.0.0.1.

The server (``tests.fake_openai.FakeOpenAI``) answers each POST with the next scripted step
(chat completions in the tool-call format of instructor's TOOLS mode) and records what it was
sent, so the tests see exactly what went over HTTP: re-asks, transport retries, the key, the letter.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from extractor import schemas
from extractor.errors import (
    LLMBudgetExceeded,
    LLMConnectionError,
    LLMError,
    LLMInvalidOutput,
    LLMRateLimited,
    LLMServerError,
    LLMTimeout,
)
from extractor.llm import LLMConfig, aextract_with_llm, extract_with_llm, make_client, prompt_version
from extractor.llm.prompting import DeterminationDraft, clean, request
from tests.fake_openai import FakeOpenAI, Step, completion, delay, status

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


ITEM: dict[str, Any] = {
    "request": "MRI of the right shoulder",
    "original_request": None,
    "decision": "Upheld",
    "category": "imaging",
    "claims_administrator_guidelines": [],
    "reviewer_guidelines": [
        {"source": "MTUS", "title": "Shoulder Complaints 2004", "sections": [], "pages": []}
    ],
}
DETERMINATION: dict[str, Any] = {
    "case": {"date_of_injury": "2013-06-25"},
    "reviewer": {"licensure_states": ["CA"], "specialties": [], "subspecialties": []},
    "patient": {"age": 58, "sex": "male", "diagnoses": [], "mechanism_of_injury": None},
    "items": [ITEM, {**ITEM, "request": "Physical therapy 8 sessions", "decision": "Overturned"}],
}
INCONSISTENT: dict[str, Any] = {
    **DETERMINATION,
    "case": {"date_of_injury": "2013-06-25", "ur_denial_date": "2012-01-01"},
}


def answer(
    arguments: dict[str, Any],
    *,
    name: str = "Determination",
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


def test_a_valid_answer_is_one_attempt(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(answer(DETERMINATION))
    result = extract_with_llm(LETTER, _config(endpoint))
    assert result.determination == schemas.Determination.model_validate(DETERMINATION)
    assert (result.attempts, result.usage) == (1, schemas.Usage(prompt_tokens=100, completion_tokens=20))
    assert (result.model, result.prompt_version) == ("test-model", prompt_version())
    sent = endpoint.requests[0].json
    assert sent["temperature"] == 0
    assert sent["model"] == "test-model"
    assert sent["tool_choice"]["function"]["name"] == "Determination"
    assert clean(LETTER) in sent["messages"][1]["content"]
    assert [r.headers.get("authorization") for r in endpoint.requests] == [f"Bearer {KEY}"]


def test_an_invalid_answer_is_re_asked_with_the_reason(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(
        answer(INCONSISTENT, prompt=100, completion_tokens=20), answer(DETERMINATION, prompt=150)
    )
    result = extract_with_llm(LETTER, _config(endpoint))
    assert result.attempts == 2
    assert result.usage == schemas.Usage(prompt_tokens=250, completion_tokens=40)
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
    endpoint.enqueue(status(429, headers={"Retry-After": "0"}), answer(DETERMINATION))
    result = extract_with_llm(LETTER, _config(endpoint))
    assert result.attempts == 2
    assert result.usage == schemas.Usage(prompt_tokens=100, completion_tokens=20)


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


def test_a_server_error_then_success_counts_both_calls(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(status(503), answer(INCONSISTENT), answer(DETERMINATION))
    result = extract_with_llm(LETTER, _config(endpoint))
    assert result.attempts == 3
    assert result.usage == schemas.Usage(prompt_tokens=200, completion_tokens=40)


def test_a_slow_answer_is_a_timeout(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(*[delay(0.6, answer(DETERMINATION))] * 2)
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
    endpoint.enqueue(answer(DETERMINATION, finish_reason="length"))
    with pytest.raises(LLMInvalidOutput, match="cut off at max_tokens=64"):
        extract_with_llm(LETTER, _config(endpoint, max_tokens=64))


def test_the_token_budget_stops_re_asks(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(answer(INCONSISTENT, prompt=900, completion_tokens=200), answer(DETERMINATION))
    with pytest.raises(LLMBudgetExceeded, match="token budget of 1000"):
        extract_with_llm(LETTER, _config(endpoint, token_budget=1000, max_retries=3))
    assert endpoint.count() == 1


def _split_config(endpoint: FakeOpenAI, **changes: Any) -> LLMConfig:
    whole = request(DeterminationDraft, clean(LETTER)).estimated_tokens()
    return _config(endpoint, context_tokens=whole + 100 - 1, max_tokens=100, **changes)


def test_a_long_letter_is_read_in_parts_and_merged(endpoint: FakeOpenAI) -> None:
    first = {**DETERMINATION, "items": DETERMINATION["items"][:1]}
    more = {"items": DETERMINATION["items"][1:]}
    endpoint.enqueue(answer(first), answer(more, name="Items", prompt=60, completion_tokens=10))
    result = extract_with_llm(LETTER, _split_config(endpoint))
    assert result.determination == schemas.Determination.model_validate(DETERMINATION)
    assert result.attempts == 2
    assert result.usage == schemas.Usage(prompt_tokens=160, completion_tokens=30)
    assert endpoint.requests[1].json["tool_choice"]["function"]["name"] == "Items"
    assert "CLINICAL CASE SUMMARY" not in endpoint.requests[1].json["messages"][1]["content"]


def test_no_request_starts_once_the_budget_is_spent(endpoint: FakeOpenAI) -> None:
    first = {**DETERMINATION, "items": DETERMINATION["items"][:1]}
    endpoint.enqueue(answer(first, prompt=900, completion_tokens=200))
    with pytest.raises(LLMBudgetExceeded, match=r"1100 tokens in 1 calls"):
        extract_with_llm(LETTER, _split_config(endpoint, token_budget=1000))
    assert endpoint.count() == 1


def test_a_shared_client_is_reused(endpoint: FakeOpenAI) -> None:
    config = _config(endpoint)
    endpoint.enqueue(answer(DETERMINATION), answer(DETERMINATION))
    client = make_client(config)
    try:
        results = [extract_with_llm(LETTER, config, client=client) for _ in range(2)]
    finally:
        assert client.client is not None
        client.client.close()
    assert [r.attempts for r in results] == [1, 1]


def test_the_async_twin(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(status(429, headers={"Retry-After": "0"}), answer(INCONSISTENT), answer(DETERMINATION))
    result = asyncio.run(aextract_with_llm(LETTER, _config(endpoint)))
    assert result.attempts == 3
    assert result.usage == schemas.Usage(prompt_tokens=200, completion_tokens=40)
    assert result.determination == schemas.Determination.model_validate(DETERMINATION)


def test_the_async_twin_maps_errors(endpoint: FakeOpenAI) -> None:
    endpoint.enqueue(*[status(502)] * 2)
    with pytest.raises(LLMServerError, match="HTTP 502"):
        asyncio.run(aextract_with_llm(LETTER, _config(endpoint, transport_retries=1)))
