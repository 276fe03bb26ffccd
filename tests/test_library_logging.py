"""Used as a library with logging at DEBUG, the extractor logs no letter text.

The letter carries a canary, a string found nowhere else; every log record of every logger is
searched for it, raw and as JSON escapes it.
"""

from __future__ import annotations

import json
import logging

import pytest

from extractor import extract
from extractor.llm import LLMConfig
from extractor.llm.client import LOG_BODIES
from support.fake_openai import FakeOpenAI, perfect
from tests.documents import shared_root

CANARY = "Zq7canary\u00e9Marker 41"


def letter_with_canary() -> str:
    seed = sorted((shared_root() / "seeds").glob("*.txt"))[0].read_text(encoding="utf-8")
    return seed.replace("year-old", f"year-old {CANARY}", 1)


def forms(marker: str) -> list[str]:
    """The marker as a log line may hold it: as is, JSON-escaped, and ASCII-escaped."""
    return [marker, json.dumps(marker)[1:-1], json.dumps(marker, ensure_ascii=True)[1:-1]]


def logged_with_canary(caplog: pytest.LogCaptureFixture) -> list[str]:
    text = letter_with_canary()
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "openai._base_client", "httpx", "httpx2", "httpcore", "httpcore2"):
        caplog.set_level(logging.DEBUG, logger=name)  # as a fresh process has them (the CLI quiets them)
    with FakeOpenAI(default=perfect) as fake:
        record = extract(text, backend="hybrid", llm_config=LLMConfig(base_url=fake.base_url, model="fake"))
        assert any(CANARY in received.text for received in fake.requests)  # the letter was sent
    assert record.provenance.backend == "hybrid"
    return [r.name for r in caplog.records if any(form in r.getMessage() for form in forms(CANARY))]


def test_no_letter_text_in_any_log_at_debug(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LOG_BODIES, raising=False)
    assert logged_with_canary(caplog) == []


def test_request_bodies_are_logged_only_when_asked_for(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The switch works, which also shows the first test would see a leak if there were one."""
    monkeypatch.setenv(LOG_BODIES, "1")
    assert "openai._base_client" in logged_with_canary(caplog)
