"""Hybrid asks the LLM only about the parts of a letter the rules pass doubts.

Each letter is written for the test (tests/test_confidence.py's template) so that exactly one
part holds a doubtful value, or none does; a fake endpoint answers as the labels would and counts
what it was asked. The same letters under ``--llm-scope all`` ask every part.
"""

from __future__ import annotations

import json
import subprocess
import sys

from extractor import extract
from extractor.confidence import THRESHOLD
from extractor.fields import path
from extractor.llm import LLMConfig
from extractor.pipeline import asked_parts
from extractor.rules import extract_rules
from extractor.schemas import Record
from extractor.scope import Asked
from support.fake_openai import FakeOpenAI, perfect
from tests.test_confidence import FRAMED, item, letter

CONFIDENT = letter()
"""A stated mechanism, a clean diagnosis list, one imaging item: nothing for the rules to doubt."""
DOUBTFUL_SUMMARY = letter(FRAMED)
"""The diagnosis list holds its statement's words: only the summary is doubtful."""
DOUBTFUL_ITEM = letter(items=item("MRI of the lumbar spine") + item("Phonophoresis/ultrasound 3x4"))
"""The second item is a one-off service requested in sessions: only that item block is doubtful."""


def hybrid(text: str, scope: str = "doubtful") -> tuple[Record, list[str]]:
    """The hybrid record of ``text`` and what the endpoint was asked about, by request kind."""
    with FakeOpenAI(default=perfect) as fake:
        config = LLMConfig(base_url=fake.base_url, model="fake", api_key="sk-test", scope=scope)
        record = extract(text, backend="hybrid", llm_config=config)
    kinds = [
        str(r.json["messages"][0]["content"])[:40] for r in fake.requests if r.path.endswith("completions")
    ]
    return record, kinds


def test_a_letter_the_rules_are_sure_of_makes_no_request() -> None:
    record, asked = hybrid(CONFIDENT)
    assert asked == []
    assert record.provenance.backend == "hybrid"
    assert record.provenance.requests == 0
    assert record.provenance.skipped == ["header", "summary", "items[0]"]
    assert min(record.confidence.values()) >= THRESHOLD
    assert record.determination == extract(CONFIDENT).determination


def test_only_the_doubtful_summary_is_asked() -> None:
    record, asked = hybrid(DOUBTFUL_SUMMARY)
    assert len(asked) == 1
    assert record.provenance.requests == 1
    assert record.provenance.skipped == ["header", "items[0]"]
    compared = {check.field for check in record.checks if check.status in ("agree", "disagree")}
    assert path("patient", "diagnoses") in compared
    assert not [field for field in compared if field.startswith(path("items"))]


def test_only_the_doubtful_item_block_is_asked() -> None:
    rules = extract_rules(DOUBTFUL_ITEM)
    assert asked_parts("hybrid", rules, "doubtful") == Asked(
        header=False, summary=False, items=frozenset({1})
    )
    record, asked = hybrid(DOUBTFUL_ITEM)
    assert len(asked) == 1
    assert record.provenance.skipped == ["header", "summary", "items[0]"]
    item_checks = {check.field for check in record.checks if check.field.startswith(path("items"))}
    assert path("items", 1, "category") in item_checks
    assert not [field for field in item_checks if field.startswith(path("items", 0))]
    assert [i.request for i in record.determination.items] == [i.request for i in rules.determination.items]


def test_scope_all_asks_every_part() -> None:
    record, asked = hybrid(DOUBTFUL_ITEM, scope="all")
    assert len(asked) == 3  # the summary and both items; the rules read the header
    assert record.provenance.requests == 3
    assert record.provenance.skipped == ["header"]


def test_the_cli_takes_the_scope() -> None:
    with FakeOpenAI(default=perfect) as fake:
        for scope, requests in (("doubtful", 0), ("all", 2)):
            command = [sys.executable, "-m", "extractor", "extract", "-", "--backend", "hybrid"]
            command += ["--llm-scope", scope, "--base-url", fake.base_url, "--api-key", "sk-test", "-q"]
            before = fake.count()
            run = subprocess.run(command, input=CONFIDENT, capture_output=True, text=True, check=False)
            assert run.returncode == 0, run.stderr
            assert json.loads(run.stdout)["provenance"]["requests"] == requests
            assert fake.count() - before == requests
