"""Hybrid extraction of every recorded letter replays offline from the committed cassettes.

The cassettes were recorded against the local Qwen2.5-Coder-1.5B server (`make record`); this
checks that the same run replays with no network and no key, and what the record says of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evals import cassettes
from evals.fixtures import load_fixtures
from extractor import extract
from extractor.confidence import THRESHOLD
from extractor.llm import DEFAULT_MODEL, LLMConfig, prompt_version
from extractor.pipeline import llm_failed, llm_failure
from tests.documents import shared_root

CASSETTES = sorted((Path(cassettes.__file__).parent / "cassettes" / DEFAULT_MODEL).glob("*.yaml"))
RECORDED_AT = "http://127.0.0.1:8012/v1"


def test_cassettes_are_committed() -> None:
    assert len(CASSETTES) >= 10


@pytest.mark.parametrize("cassette", CASSETTES, ids=[p.stem for p in CASSETTES])
def test_hybrid_replays_offline(cassette: Path) -> None:
    (item,) = load_fixtures(documents=shared_root(), only=[cassette.stem])
    config = LLMConfig(base_url=RECORDED_AT, model=DEFAULT_MODEL, transport_retries=0, scope="all")
    with cassettes.use_fixture_cassette(item.id, model=DEFAULT_MODEL, prompt_version=prompt_version()):
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
    assert provenance.prompt_version == prompt_version()
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
    version = prompt_version()
    every_part = config.model_copy(update={"scope": "all"})
    with cassettes.use_fixture_cassette(item.id, model=DEFAULT_MODEL, prompt_version=version) as replay:
        record = extract(item.document, backend="hybrid", llm_config=config, on_llm_error="keep_rules")
        assert replay.missed() is None
        everything = extract(
            item.document, backend="hybrid", llm_config=every_part, on_llm_error="keep_rules"
        )
    assert record.provenance.backend == "hybrid"
    assert record.provenance.requests <= everything.provenance.requests
    assert set(record.provenance.skipped) >= set(everything.provenance.skipped)
    assert record.determination.items == extract(item.document).determination.items
