"""Fault injection through the real stack: openai client, instructor, tenacity, HTTP on 127.0.0.1.

Every fault sequence is served by ``support.fake_openai.FakeOpenAI`` (a real HTTP server, not a
mock inside the client) and asserts what happens: how many requests the server saw (retried
within the policy, never past it), then either a record whose provenance counts every attempt
and the usage of every answer that arrived, or the typed error the batch writes to
errors.jsonl; in a batch, the other letters still get their records.

The policy under test (``POLICY``): 3 tries per request for transport faults (429, 5xx,
timeouts, resets), 2 attempts for invalid answers, 0.5 s per request, no backoff (a test
must not sleep); the CLI test runs the shipped defaults instead.  Each sequence runs through
``extract``; the async twin (``aextract``, what the batch runs) takes one of each outcome, and
the batch tests take a dozen more through ``run_batch`` and ``extractor batch``.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from extractor import ExtractionError, aextract, extract
from extractor.jobs import BatchOptions, expand, run_batch
from extractor.llm import LLMConfig, prompt_version
from extractor.llm.client import answer_limit
from extractor.llm.drafts import MAX_STRING_CHARS
from extractor.llm.prompting import plan
from extractor.pipeline import LLM_FAILED, llm_failed, llm_failure
from extractor.reading import read_path
from extractor.schemas import Record, Usage
from extractor.scope import Asked
from support.fake_openai import (
    JSON,
    FakeOpenAI,
    Received,
    Step,
    chunked,
    completion,
    delay,
    invalid_against_schema,
    perfect_arguments,
    raw_body,
    reset,
    status,
    truncated_body,
    truncated_json,
)
from tests.documents import require_letter, summary_line

KEY = "sk-test-faults-0123456789abcdef"
GOOD_USAGE = (1000, 200)
BAD_USAGE = (100, 20)  # the default usage of a scripted (invalid) answer
POLICY: dict[str, Any] = {
    "api_key": KEY,
    "model": "fault-model",
    "timeout": 0.5,
    "transport_retries": 2,
    "max_retries": 1,
    "backoff_initial": 0,
    "backoff_max": 1,
    "scope": "all",  # every part asked: the faults are served to whichever request they name
}
SLOW = 30.0  # far beyond the timeout; stopping the server ends the wait
LETTER = "letters/CM16-0219557.pdf"
PARTS = 2
"""The requests a hybrid extraction of LETTER makes: its summary and its one item."""

RETRY_NOW = {"Retry-After": "0"}
PAST = email.utils.formatdate(time.time() - 3600, usegmt=True)  # an HTTP-date already gone: no wait


def good(received: Received) -> Step:
    """A perfect model's answer with a round usage, so the sums can be asserted exactly."""
    return completion(perfect_arguments(received.json), usage=GOOD_USAGE)


DEEP = b"[" * 10**5 + b"]" * 10**5
"""An HTTP body nested 10^5 deep (it ended ``extract`` in a traceback): over the size limit."""
NESTED = b"[" * 10**4 + b"]" * 10**4
"""Nested 10^4 deep, within the size limit: the JSON parser gives up on it (RecursionError)."""
LONG = "fell from a ladder " * 5_300
"""A 100 KB string: grounding it took 220 s."""
assert len(LONG) > MAX_STRING_CHARS


def long_string(received: Received) -> JSON:
    """A perfect answer to the summary's request but for a 100 KB mechanism of injury."""
    answer: JSON = json.loads(perfect_arguments(received.json))
    return answer | {"mechanism_of_injury": LONG}


TOO_LARGE = completion("[" + "1," * 500_000 + "1]")
"""An answer of 1 MB: more than any answer of max_tokens tokens can be."""


INCONSISTENT = {  # well-formed, schema-shaped, but 300 years old: the schema refuses it
    "age": 300,
    "sex": "male",
    "diagnoses": [],
    "mechanism_of_injury": None,
    "body_regions": [],
}


@dataclass(frozen=True)
class Fault:
    """One fault sequence: the steps served before the good answer, and what must come of them."""

    name: str
    steps: tuple[Step, ...]
    requests: int
    """Requests the server must see for the letter's first part (the faults are served to it):
    the retries the policy allows, no more; each later part is one more request."""
    error: str | None = None
    """The typed reason (errors.jsonl's error.type), or None for a record."""
    bad_usage: tuple[int, int] = (0, 0)
    """Usage of answers that arrived but were invalid: counted in the record's usage too."""
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def expected_usage(self) -> Usage:
        good_answers = PARTS if self.error is None else 0
        return Usage(
            prompt_tokens=good_answers * GOOD_USAGE[0] + self.bad_usage[0],
            completion_tokens=good_answers * GOOD_USAGE[1] + self.bad_usage[1],
        )


def _twice(usage: tuple[int, int]) -> tuple[int, int]:
    return usage[0] * 2, usage[1] * 2


FAULTS = [
    # rate limits
    Fault("429 Retry-After 0, then ok", (status(429, headers=RETRY_NOW),), 2),
    Fault("429 Retry-After HTTP-date, then ok", (status(429, headers={"Retry-After": PAST}),), 2),
    Fault("429 on every try", (status(429, headers=RETRY_NOW),) * 3, 3, "llm_rate_limited"),
    Fault(
        "429 asking 120 s: not worth it",
        (status(429, headers={"Retry-After": "120"}),),
        1,
        "llm_rate_limited",
    ),
    # server errors
    Fault("500, then ok", (status(500),), 2),
    Fault("500 on every try", (status(500),) * 3, 3, "llm_server_error"),
    Fault("503, then ok", (status(503),), 2),
    Fault("503 on every try", (status(503),) * 3, 3, "llm_server_error"),
    Fault(
        "502, 503, 500, then ok", (status(502), status(503), status(500)), 4, config={"transport_retries": 3}
    ),
    # slow answers and broken connections
    Fault("slower than the timeout, then ok", (delay(SLOW),), 2),
    Fault(
        "slower than the timeout on every try",
        (delay(SLOW),) * 2,
        2,
        "llm_timeout",
        config={"transport_retries": 1},
    ),
    Fault("connection reset, then ok", (reset(),), 2),
    Fault("connection reset on every try", (reset(),) * 3, 3, "llm_connection_error"),
    Fault("HTTP body cut off, then ok", (truncated_body(),), 2),
    # invalid answers: instructor re-asks
    Fault("truncated JSON, then ok", (truncated_json(),), 2, bad_usage=BAD_USAGE),
    Fault(
        "truncated JSON on every attempt", (truncated_json(),) * 2, 2, "llm_invalid_output", _twice(BAD_USAGE)
    ),
    Fault("JSON failing the schema, then ok", (invalid_against_schema(),), 2, bad_usage=BAD_USAGE),
    Fault(
        "JSON failing the schema on every attempt",
        (invalid_against_schema(),) * 2,
        2,
        "llm_invalid_output",
        _twice(BAD_USAGE),
    ),
    Fault("an age out of range, then ok", (completion(INCONSISTENT),), 2, bad_usage=BAD_USAGE),
    # the token budget stops re-asks
    Fault(
        "invalid answers past the token budget",
        (invalid_against_schema(usage=(900, 200)),) * 3,
        1,
        "llm_budget_exceeded",
        (900, 200),
        {"token_budget": 1000, "max_retries": 3},
    ),
    Fault(
        "budget spent over two re-asks",
        (invalid_against_schema(usage=(400, 100)),) * 3,
        2,
        "llm_budget_exceeded",
        (800, 200),
        {"token_budget": 1000, "max_retries": 3},
    ),
    # faults mixed
    Fault(
        "every transport fault once, then ok",
        (status(429, headers=RETRY_NOW), status(500), status(503), delay(SLOW), reset()),
        6,
        config={"transport_retries": 5},
    ),
    Fault("503, then invalid, then ok", (status(503), invalid_against_schema()), 3, bad_usage=BAD_USAGE),
    Fault(
        "invalid, then 500 on the re-ask, then ok",
        (invalid_against_schema(), status(500)),
        3,
        bad_usage=BAD_USAGE,
    ),
    Fault("401: refused, not retried", (status(401),), 1, "llm_error"),
    Fault("HTTP body cut off on every attempt", (truncated_body(),) * 2, 2, "llm_invalid_output"),
    # hostile answers: refused in bounded time and memory, typed, the rules record kept
    Fault("an HTTP body nested 10^5 deep: not retried", (raw_body(DEEP),), 1, "llm_invalid_output"),
    Fault("an HTTP body nested 10^4 deep: not retried", (raw_body(NESTED),), 1, "llm_invalid_output"),
    Fault("an HTTP body not UTF-8: not retried", (raw_body(b'{"id": "\xff\xfe"}'),), 1, "llm_invalid_output"),
    Fault(
        "an HTTP body not a completion: not retried", (raw_body(b'{"choices": 5}'),), 1, "llm_invalid_output"
    ),
    Fault("a 100 KB string on every attempt", (completion(long_string),) * 2, 2, "llm_invalid_output"),
    Fault("an answer over the size limit: not retried", (TOO_LARGE,), 1, "llm_invalid_output"),
    Fault(
        "a chunked answer over the size limit: not retried", (chunked(TOO_LARGE),), 1, "llm_invalid_output"
    ),
    # instructor's JSON modes: the answer is the message content, not a tool call
    Fault("json mode: 500, then ok", (status(500),), 2, config={"mode": "json"}),
    Fault(
        "md_json mode: invalid, then ok",
        (invalid_against_schema(),),
        2,
        bad_usage=BAD_USAGE,
        config={"mode": "md_json"},
    ),
]
SEQUENCES = len(FAULTS)


HOSTILE = [  # (answer, what the failure says)
    pytest.param(raw_body(NESTED), "the answer is nested too deep to read", id="nested"),
    pytest.param(raw_body(b'{"id": "\xff"}'), "the answer is not UTF-8", id="not-utf8"),
    pytest.param(completion(long_string), f"a string of {len(LONG):,} characters", id="long-string"),
    pytest.param(raw_body(DEEP), f"longer than the {answer_limit(LLMConfig()):,} bytes", id="too-large"),
]


@pytest.mark.parametrize(("answer", "reason"), HOSTILE)
def test_a_hostile_answer_keeps_the_rules_record_and_says_why(
    answer: Step, reason: str, letter: str, rules_record: Record
) -> None:
    """One line naming the kind and the reason, never the answer itself."""
    with FakeOpenAI(script=[answer] * 2, default=good) as fake:
        kept = extract(letter, backend="hybrid", llm_config=config(fake), on_llm_error="keep_rules")
    note = llm_failure(kept)
    assert note is not None
    assert note.startswith(f"{LLM_FAILED}: llm_invalid_output: ")
    assert reason in note
    assert "\n" not in note
    assert "ladder" not in note
    assert kept.determination == rules_record.determination


def test_a_50_mb_answer_is_refused_unread(letter: str, rules_record: Record) -> None:
    """A 50 MB answer took 6.3 GB and wrote a 157 MB record; read no further than the limit,
    it leaves the rules record, its size that of any record."""
    huge = completion(
        lambda received: json.loads(perfect_arguments(received.json)) | {"diagnoses": [LONG] * 500}
    )
    with FakeOpenAI(default=huge) as fake:
        llm = config(fake, timeout=60)  # the server takes a while to write 50 MB of JSON
        kept = extract(letter, backend="hybrid", llm_config=llm, on_llm_error="keep_rules")
    assert fake.count() == 1  # refused, not retried
    assert (llm_failure(kept) or "").startswith(
        f"{LLM_FAILED}: llm_invalid_output: the answer is longer than"
    )
    assert kept.determination == rules_record.determination
    assert len(kept.model_dump_json()) < 2 * len(rules_record.model_dump_json())


def test_extract_on_the_command_line_keeps_the_rules_record_of_a_nested_answer(tmp_path: Path) -> None:
    """``extractor extract --backend hybrid`` against a body nested too deep: a record, no traceback."""
    with FakeOpenAI(default=raw_body(NESTED)) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EXTRACTOR_"))}
        env["OPENAI_API_KEY"] = KEY
        command = [sys.executable, "-m", "extractor", "extract", str(require_letter(LETTER))]
        command += ["--backend", "hybrid", "--llm-scope", "all", "--base-url", fake.base_url]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    record = Record.model_validate_json(done.stdout)
    assert (llm_failure(record) or "").startswith(f"{LLM_FAILED}: llm_invalid_output: ")


@pytest.fixture(scope="module")
def letter() -> str:
    return read_path(require_letter(LETTER)).text


@pytest.fixture(scope="module")
def rules_record(letter: str) -> Record:
    return extract(letter, backend="rules")


def config(fake: FakeOpenAI, **changes: Any) -> LLMConfig:
    return LLMConfig(base_url=fake.base_url, **{**POLICY, **changes})


def outcome(letter: str, llm: LLMConfig, run_async: bool) -> Record | Exception:
    """The record, or the exception (checked to be a typed ExtractionError)."""
    try:
        if run_async:
            return asyncio.run(aextract(letter, backend="hybrid", llm_config=llm))
        return extract(letter, backend="hybrid", llm_config=llm)
    except Exception as error:
        return error


def check(fault: Fault, result: Record | Exception, fake: FakeOpenAI, rules: Record) -> None:
    later = PARTS - 1 if fault.error is None else 0  # a failed part fails the letter: none is asked after it
    assert fake.count() == fault.requests + later, [r.step for r in fake.requests]
    assert fake.unscripted == 0
    assert fake.errors == []
    for received in fake.requests:  # every try is the whole request, with the key
        assert received.headers["authorization"] == f"Bearer {KEY}"
        assert received.json["model"] == "fault-model"
    if fault.error is not None:
        assert isinstance(result, ExtractionError), repr(result)
        assert result.kind == fault.error
        assert KEY not in result.message
        assert "Facet joint" not in result.message  # never letter text
        return
    assert isinstance(result, Record), result
    provenance = result.provenance
    assert provenance.backend == "hybrid"
    asked = prompt_version(["patient", "item"])  # hybrid has the header from the rules
    assert (provenance.model, provenance.prompt_version) == ("fault-model", asked)
    assert provenance.attempts == fault.requests + later
    assert provenance.usage == fault.expected_usage
    assert result.determination.items == rules.determination.items
    assert not result.needs_review, [c for c in result.checks if c.status == "disagree" or c.review]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault_sequence(fault: Fault, letter: str, rules_record: Record) -> None:
    with FakeOpenAI(script=fault.steps, default=good) as fake:
        result = outcome(letter, config(fake, **fault.config), run_async=False)
    check(fault, result, fake, rules_record)


ASYNC = [  # one sequence per outcome, and the mixes
    fault
    for fault in FAULTS
    if fault.name.endswith(("every try", "every attempt", "budget", "not retried"))
    or fault.name.startswith(("every transport", "503, then invalid", "invalid, then 500"))
]


@pytest.mark.parametrize("fault", ASYNC, ids=lambda f: f.name)
def test_fault_sequence_async(fault: Fault, letter: str, rules_record: Record) -> None:
    with FakeOpenAI(script=fault.steps, default=good) as fake:
        result = outcome(letter, config(fake, **fault.config), run_async=True)
    check(fault, result, fake, rules_record)


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_a_positive_retry_after_is_waited_for(run_async: bool, letter: str) -> None:
    """Measured where it matters, on the server: the retry arrives no sooner than it was asked."""
    asked = 1
    with FakeOpenAI(script=[status(429, headers={"Retry-After": str(asked)})], default=good) as fake:
        result = outcome(letter, config(fake, backoff_max=asked + 1), run_async)
    assert isinstance(result, Record)
    first, second = fake.requests[:2]
    assert (first.step, second.step) == ("status", "completion")
    assert second.at - first.at >= asked


def test_a_perfect_answer_through_the_llm_backend_needs_no_review(letter: str) -> None:
    with FakeOpenAI(default=good) as fake:
        record = extract(letter, backend="llm", llm_config=config(fake))
    assert record.provenance.backend == "llm"
    parts = PARTS + 1  # the llm backend also asks for the header, which hybrid has from the rules
    assert (record.provenance.attempts, record.provenance.usage) == (
        parts,
        Usage(prompt_tokens=1000 * parts, completion_tokens=200 * parts),
    )
    assert record.determination.case.decision_date is not None
    assert [check for check in record.checks if check.review] == []


def test_the_letter_is_asked_in_parts(letter: str, rules_record: Record) -> None:
    assert len(plan(letter, Asked(header=False))) == PARTS == 1 + len(rules_record.determination.items)


def test_the_sequences_are_many() -> None:
    assert SEQUENCES >= 25
    assert (
        {f.error for f in ASYNC}
        == {f.error for f in FAULTS}
        >= {
            None,
            "llm_rate_limited",
            "llm_server_error",
            "llm_timeout",
            "llm_connection_error",
            "llm_invalid_output",
            "llm_budget_exceeded",
        }
    )


# --------------------------------------------------------------------------- in a batch

BATCH_LETTERS = [
    "CM16-0213037",
    "CM16-0219557",
    "CM16-0230548",
    "CM16-0231706",
    "CM16-0231884",
    "CM16-0235724",
    "CM16-0235991",
    "CM16-0238352",
    "CM16-0240518",
    "CM16-0242419",
    "CM16-0244053",
    "CM16-0245028",
    "CM16-0245466",
]
BATCH_FAULTS: dict[str, Fault] = {  # by the case number the letter (so the request) holds
    "CM16-0213037": Fault("429 then ok", (status(429, headers=RETRY_NOW),), 2),
    "CM16-0219557": Fault("500 on every try", (status(500),) * 3, 3, "llm_server_error"),
    "CM16-0230548": Fault("503 then ok", (status(503),), 2),
    "CM16-0231706": Fault("too slow on every try", (delay(SLOW),) * 3, 3, "llm_timeout"),
    "CM16-0231884": Fault("reset on every try", (reset(),) * 3, 3, "llm_connection_error"),
    "CM16-0235724": Fault("truncated JSON then ok", (truncated_json(),), 2, bad_usage=BAD_USAGE),
    "CM16-0235991": Fault(
        "invalid on every attempt", (invalid_against_schema(),) * 2, 2, "llm_invalid_output"
    ),
    "CM16-0238352": Fault("429 on every try", (status(429, headers=RETRY_NOW),) * 3, 3, "llm_rate_limited"),
    "CM16-0240518": Fault("slow then ok", (delay(SLOW),), 2),
    "CM16-0242419": Fault(
        "invalid past the budget",
        (invalid_against_schema(usage=(90_000, 20_000)),),
        1,
        "llm_budget_exceeded",
    ),
    "CM16-0244053": Fault("HTTP body cut off, then ok", (truncated_body(),), 2),
    "CM16-0245028": Fault("HTTP body nested 10^5 deep", (raw_body(DEEP),), 1, "llm_invalid_output"),
}
CLEAN = [number for number in BATCH_LETTERS if number not in BATCH_FAULTS]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for number in BATCH_LETTERS:
        shutil.copyfile(require_letter(f"letters/{number}.pdf"), folder / f"{number}.pdf")
    (folder / "shopping.txt").write_text("milk\neggs\n")  # refused before any LLM call
    return folder


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def outcomes(out: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    records = {Path(r["document"]["path"]).stem: r for r in lines(out / "records.jsonl")}
    errors = {Path(e["document"]["path"]).stem: e for e in lines(out / "errors.jsonl")}
    return records, errors


@functools.cache
def first_part(number: str) -> tuple[str, int]:
    """A line of the letter's case summary, which only its first request (the summary's: hybrid
    has the header from the rules) carries, and how many requests the letter is asked in."""
    text = read_path(require_letter(f"letters/{number}.pdf")).text
    return summary_line(f"letters/{number}.pdf"), len(plan(text, Asked(header=False)))


def routed(faults: Mapping[str, Iterable[Step]]) -> dict[str, Iterable[Step]]:
    """The fake's ``when``: each letter's faults, served to its first request."""
    return {first_part(number)[0]: steps for number, steps in faults.items()}


def requests_for(fake: FakeOpenAI, number: str) -> int:
    """The requests that asked for the letter's first part (its faults and its answer)."""
    key = first_part(number)[0]
    return sum(1 for received in fake.requests if key in received.text)


def test_a_batch_types_every_fault_and_finishes_the_rest(inbox: Path, tmp_path: Path) -> None:
    when = routed({number: fault.steps for number, fault in BATCH_FAULTS.items()})
    with FakeOpenAI(when=when, default=good) as fake:
        llm = config(fake, token_budget=100_000, timeout=1.0)  # 2 CPUs busy: leave room
        options = BatchOptions(
            out=tmp_path / "out", backend="hybrid", llm_config=llm, workers=2, concurrency=4
        )
        summary = run_batch(expand([str(inbox)]), options)

    records, errors = outcomes(tmp_path / "out")
    assert fake.pending == 0
    assert fake.unscripted == 0
    assert fake.errors == []
    assert sorted(records) == sorted(BATCH_LETTERS)  # hybrid: a failed LLM pass keeps the rules record
    assert list(errors) == ["shopping"]
    assert errors["shopping"]["error"]["type"] == "not_imr_letter"
    assert not [r for r in fake.requests if "milk" in r.text]
    for number, fault in BATCH_FAULTS.items():
        assert requests_for(fake, number) == fault.requests, (number, fault.name)
        record = records[number]
        if fault.error is None:
            provenance = record["provenance"]
            answers = first_part(number)[1]
            assert provenance["attempts"] == fault.requests + answers - 1, number
            usage = {"prompt_tokens": answers * GOOD_USAGE[0] + fault.bad_usage[0],
                     "completion_tokens": answers * GOOD_USAGE[1] + fault.bad_usage[1]}  # fmt: skip
            assert provenance["usage"] == usage, number
        else:
            (failure,) = [c for c in record["checks"] if (c["note"] or "").startswith(LLM_FAILED)]
            assert failure["note"].startswith(f"{LLM_FAILED}: {fault.error}: "), (number, failure)
            assert (failure["status"], failure["review"]) == ("rules_only", True)
            assert record["needs_review"]
            assert record["provenance"]["backend"] == "hybrid"
            assert record["determination"]["items"]  # the rules pass's reading, whole
    for number in CLEAN:
        assert requests_for(fake, number) == 1
        assert records[number]["provenance"]["attempts"] == first_part(number)[1]
        assert not records[number]["needs_review"]
    failed = Counter(f.error for f in BATCH_FAULTS.values() if f.error)
    assert summary["errors_by_type"] == {"not_imr_letter": 1}
    assert summary["llm_failed"] == sum(failed.values())
    assert summary["records"] == len(records) == len(BATCH_LETTERS)
    assert summary["records"] + summary["errors"] == summary["inputs"] == len(BATCH_LETTERS) + 1
    total = sum((Usage.model_validate(r["provenance"]["usage"]) for r in records.values()), Usage())
    assert Usage.model_validate(summary["tokens"]) == total


def test_the_cli_batch_under_the_default_policy(inbox: Path, tmp_path: Path) -> None:
    """``extractor batch`` as shipped: 4 tries per request, 3 attempts per answer, Retry-After believed."""
    when = routed(
        {
            "CM16-0213037": [status(429, headers=RETRY_NOW)] * 2,  # ok on the 3rd try
            "CM16-0219557": [status(503, headers=RETRY_NOW)] * 4,  # every try: server error
            "CM16-0230548": [invalid_against_schema()] * 3,  # every attempt: invalid output
            "CM16-0231706": [truncated_json(), invalid_against_schema()],  # ok on the 3rd attempt
            "CM16-0231884": [status(500, headers=RETRY_NOW), truncated_json()],  # ok after both
        }
    )
    with FakeOpenAI(when=when, default=good) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EXTRACTOR_"))}
        env["OPENAI_API_KEY"] = KEY
        command = [
            sys.executable,
            "-m",
            "extractor",
            "batch",
            str(inbox),
            "--out",
            str(tmp_path / "out"),
            "--backend",
            "hybrid",
            "--llm-scope",
            "all",
            "--base-url",
            fake.base_url,
            "--workers",
            "2",
            "--quiet",
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr  # "shopping" is no letter; the others are written
    records, errors = outcomes(tmp_path / "out")
    expected = {"CM16-0213037": 3, "CM16-0219557": 4, "CM16-0230548": 3, "CM16-0231706": 3, "CM16-0231884": 3}
    assert {number: requests_for(fake, number) for number in expected} == expected
    assert {number: e["error"]["type"] for number, e in errors.items()} == {"shopping": "not_imr_letter"}
    kept = {
        number: next(c["note"] for c in record["checks"] if (c["note"] or "").startswith(LLM_FAILED))
        for number, record in records.items()
        if any((c["note"] or "").startswith(LLM_FAILED) for c in record["checks"])
    }
    assert {number: note.split(": ")[1] for number, note in kept.items()} == {
        "CM16-0219557": "llm_server_error",
        "CM16-0230548": "llm_invalid_output",
    }
    assert records["CM16-0213037"]["provenance"]["attempts"] == 3 + first_part("CM16-0213037")[1] - 1
    answers = first_part("CM16-0231706")[1]
    assert records["CM16-0231706"]["provenance"]["usage"] == {
        "prompt_tokens": answers * GOOD_USAGE[0] + 2 * BAD_USAGE[0],
        "completion_tokens": answers * GOOD_USAGE[1] + 2 * BAD_USAGE[1],
    }
    assert len(records) == len(BATCH_LETTERS)
    assert KEY not in done.stderr
    assert "retrying" in done.stderr  # each transport retry is announced (without letter text)


# --------------------------------------------------------------------------- the server itself


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), dict(error.headers)


def test_scripts_route_by_text_then_fall_back_to_the_default() -> None:
    ask = {"model": "m", "messages": [{"role": "user", "content": "letter A"}]}
    other = {"model": "m", "messages": [{"role": "user", "content": "letter B"}]}
    with FakeOpenAI(
        script=[status(503)], when={"letter A": [status(429, headers=RETRY_NOW)]}, headers={"X-Extra": "1"}
    ) as fake:
        url = fake.base_url + "/chat/completions"
        assert post(url, ask)[0] == 429  # its own queue first
        code, body, headers = post(url, other)
        assert (code, headers["X-Extra"]) == (503, "1")  # then the script
        assert post(url, ask)[0] == 418  # both used up, no default: unscripted, not retried
        fake.enqueue(completion({"x": 1}, usage=(3, 4)), when="letter B")
        code, body, _ = post(url, other)
        assert body["choices"][0]["message"]["content"] == '{"x": 1}'  # no tool asked: JSON content
        assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        tools = {**ask, "tools": [{"type": "function", "function": {"name": "Determination"}}]}
        fake.default = completion({"y": 2})
        code, body, _ = post(url, tools)
        (call,) = body["choices"][0]["message"]["tool_calls"]
        assert (call["function"]["name"], json.loads(call["function"]["arguments"])) == (
            "Determination",
            {"y": 2},
        )
        assert post(fake.base_url + "/embeddings", ask)[0] == 404

        def broken(received: Received) -> Step:
            raise KeyError("no such field")

        fake.default = broken
        code, body, _ = post(url, ask)
        assert (code, body["error"]["type"]) == (418, "responder_error")  # loud, and not retried
    assert [r.step for r in fake.requests] == [
        "status", "status", "unscripted", "completion", "completion", "not_found", "error"
    ]  # fmt: skip
    assert (fake.unscripted, fake.pending) == (1, 0)
    assert [type(error) for error in fake.errors] == [KeyError]
    assert fake.requests[0].json == ask
    assert fake.requests[0].path == "/v1/chat/completions"


def test_the_server_stops_with_requests_in_flight() -> None:
    """A client still waiting on a slow answer does not keep the server (or the test) alive."""
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    fake = FakeOpenAI(default=delay(SLOW)).start()
    request = urllib.request.Request(fake.base_url + "/chat/completions", data=b"{}", method="POST")

    def ask() -> str:
        try:
            with urllib.request.urlopen(request, timeout=10):
                return "answered"
        except (urllib.error.URLError, ConnectionError, OSError) as error:
            return type(error).__name__

    with ThreadPoolExecutor(3) as pool:
        waiting = [pool.submit(ask) for _ in range(3)]
        deadline = time.monotonic() + 5
        while fake.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 2
        assert all(future.result(timeout=5) != "answered" for future in waiting)
    fake.stop()  # idempotent


def test_extract_keeps_the_rules_record_only_when_asked(tmp_path: Path) -> None:
    """The library raises by default (a caller decides); the CLI and the batch keep the rules record."""
    letter = read_path(require_letter("letters/CM16-0213037.pdf"))
    with FakeOpenAI(default=status(503)) as down:
        llm = config(down, transport_retries=0)
        with pytest.raises(ExtractionError) as raised:
            extract(letter, backend="hybrid", llm_config=llm)
        kept = extract(letter, backend="hybrid", llm_config=llm, on_llm_error="keep_rules")
        with pytest.raises(ExtractionError):  # an llm-only extraction has no rules record to keep
            extract(letter, backend="llm", llm_config=llm, on_llm_error="keep_rules")
    assert raised.value.kind == "llm_server_error"
    assert llm_failed(kept)
    assert kept.needs_review
    assert kept.determination == extract(letter).determination
