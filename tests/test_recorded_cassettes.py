"""Hybrid extraction of every recorded letter replays offline from the committed cassettes.

The cassettes were recorded against the local Qwen2.5-Coder-1.5B server (`make record`); this
checks that the same run replays with no network and no key, and what the record says of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evals import cassettes
from evals.cassettes import MissingCassette
from evals.fixtures import load_fixtures
from extractor import extract
from extractor.confidence import THRESHOLD
from extractor.llm import (
    DEFAULT_MODEL,
    LLMConfig,
    extract_with_llm,
    prompt_version,
    prompt_versions,
    prompting,
    templates,
)
from extractor.pipeline import llm_failed, llm_failure, load
from extractor.scope import Asked
from tests.documents import shared_root

CASSETTES = sorted((Path(cassettes.__file__).parent / "cassettes" / DEFAULT_MODEL).glob("*.yaml"))
RECORDED_AT = "http://127.0.0.1:8012/v1"


def test_cassettes_are_committed() -> None:
    assert len(CASSETTES) >= 10


@pytest.mark.parametrize("cassette", CASSETTES, ids=[p.stem for p in CASSETTES])
def test_hybrid_replays_offline(cassette: Path) -> None:
    (item,) = load_fixtures(documents=shared_root(), only=[cassette.stem])
    config = LLMConfig(base_url=RECORDED_AT, model=DEFAULT_MODEL, transport_retries=0, scope="all")
    with cassettes.use_fixture_cassette(item.id, model=DEFAULT_MODEL, prompt_versions=prompt_versions()):
        record = extract(item.document, backend="hybrid", llm_config=config, on_llm_error="keep_rules")
    rules = extract(item.document, backend="rules")
    if llm_failed(record):  # the recorded answers failed validation every time: degraded, not lost
        assert record.determination == rules.determination
        assert record.needs_review
        assert "llm_invalid_output" in (llm_failure(record) or "")
        return
    provenance = record.provenance
    assert provenance.backend == "hybrid"
    assert provenance.model == DEFAULT_MODEL
    # the versions of the kinds it asked (hybrid skips the header the rules read)
    assert "item:" in (provenance.prompt_version or "")
    assert set((provenance.prompt_version or "").split()) <= set(prompt_version().split())
    assert provenance.attempts >= 1
    assert provenance.usage.prompt_tokens > 0
    assert provenance.usage.completion_tokens > 0
    fields = {check.field for check in record.checks}
    assert {"determination.patient.age", "determination.items[0].decision"} <= fields
    # Merge policy: what the rules read with evidence wins, whatever the model said; one item
    # per item block, whatever the model answered for it.
    assert [(i.request, i.decision) for i in record.determination.items] == [
        (i.request, i.decision) for i in rules.determination.items
    ]
    for name, value in rules.determination.case:
        if value is not None:
            assert getattr(record.determination.case, name) == value
    assert record.needs_review == any(check.review for check in record.checks)
    # a disagreement stays in sight; unflagged only where the rules value's confidence holds
    for contest in (check for check in record.checks if check.status == "disagree" and not check.review):
        assert record.confidence[contest.field] >= THRESHOLD
        assert "the rules value stands" in (contest.note or "")


@pytest.mark.parametrize("cassette", CASSETTES, ids=[p.stem for p in CASSETTES])
def test_asking_only_where_the_rules_doubt_replays_from_the_same_cassettes(cassette: Path) -> None:
    """Selective asking sends a subset of the same per-part requests: each one is recorded, and
    what the record says it asked and skipped covers every part."""
    (item,) = load_fixtures(documents=shared_root(), only=[cassette.stem])
    config = LLMConfig(base_url=RECORDED_AT, model=DEFAULT_MODEL, transport_retries=0, scope="doubtful")
    version = prompt_versions()
    every_part = config.model_copy(update={"scope": "all"})
    with cassettes.use_fixture_cassette(item.id, model=DEFAULT_MODEL, prompt_versions=version) as replay:
        record = extract(item.document, backend="hybrid", llm_config=config, on_llm_error="keep_rules")
        assert replay.missed() is None
        everything = extract(
            item.document, backend="hybrid", llm_config=every_part, on_llm_error="keep_rules"
        )
    assert record.provenance.backend == "hybrid"
    assert record.provenance.requests <= everything.provenance.requests
    assert set(record.provenance.skipped) >= set(everything.provenance.skipped)
    assert record.determination.items == extract(item.document).determination.items


@pytest.fixture
def edited_item_prompt(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """prompts/item.md with a sentence added, as an edit in a checkout leaves it (the prompts'
    caches emptied before and after)."""
    original = templates.load

    def edited(name: str) -> str:
        text = original(name)
        return text + "\nAnswer with JSON only." if name == templates.instructions("item") else text

    caches = (prompting._template, prompting.system_prompt, prompting.kind_version)
    for cache in caches:
        cache.cache_clear()
    monkeypatch.setattr(templates, "load", edited)
    yield
    monkeypatch.undo()
    for cache in caches:
        cache.cache_clear()


def test_an_edited_item_prompt_misses_only_the_item_requests(edited_item_prompt: None) -> None:
    """Each kind of request has its own prompt version: after an edit to the item prompt, a
    letter's header and summary requests still replay from its cassette, and an item request
    misses, saying which prompt changed and how to re-record."""
    (item,) = load_fixtures(documents=shared_root(), only=[CASSETTES[0].stem])
    text = load(item.document).text
    config = LLMConfig(base_url=RECORDED_AT, model=DEFAULT_MODEL, transport_retries=0)
    now = prompt_versions()
    with cassettes.use_fixture_cassette(item.id, model=DEFAULT_MODEL, prompt_versions=now) as replay:
        recorded = replay.recorded_prompt_versions
        assert {kind for kind in now if now[kind] != recorded[kind]} == {"item"}
        header = extract_with_llm(text, config, asked=Asked(summary=False, items=frozenset()))
        summary = extract_with_llm(text, config, asked=Asked(header=False, items=frozenset()))
        assert replay.missed() is None
    assert (header.read, header.prompt_version) == (
        frozenset({"case", "reviewer"}),
        f"header:{now['header']}",
    )
    assert (summary.read, summary.prompt_version) == (frozenset({"patient"}), f"patient:{now['patient']}")
    with (
        pytest.raises(MissingCassette) as caught,
        cassettes.use_fixture_cassette(item.id, model=DEFAULT_MODEL, prompt_versions=now),
    ):
        extract_with_llm(text, config, asked=Asked(header=False, summary=False, items=frozenset({0})))
    message = str(caught.value)
    assert f"recorded with item prompt_version {recorded['item']}]" in message
    assert message.endswith(cassettes.RERECORD_HINT)
