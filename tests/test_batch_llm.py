"""Batch jobs with an LLM: live calls, and the Batch API files of --prepare-batch and --ingest.

The endpoint is support.fake_openai.FakeOpenAI on 127.0.0.1, answering what a perfect model would
(the rules pass's reading of the letter it is sent); nothing leaves the machine.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor.errors import ResultsFileError
from extractor.jobs import BatchOptions, expand, run_batch
from extractor.llm import LLMConfig, extract_with_llm, prompt_version
from extractor.llm.prompting import kind_version, plan
from extractor.pipeline import LLM_FAILED, asked_parts
from extractor.reading import read_path
from extractor.rules import extract_rules
from extractor.scope import Asked
from support.fake_openai import FakeOpenAI, perfect, perfect_completion, status
from tests.documents import require_letter, shared_root
from tests.test_batch import cli, lines

TWO_ITEMS = "CM16-0213037.pdf"
LETTERS = [TWO_ITEMS, "CM16-0219557.pdf", "CM16-0231706.pdf"]
CUSTOM_ID = re.compile(r"^[0-9a-f]{24}-[0-9a-f]{12}-[0-9a-f]{12}-[hpi]\d+-\d+$")


@functools.cache
def asked(name: str) -> int:
    """The requests a hybrid extraction of letter ``name`` makes: its summary and each item (the
    rules pass reads the header of these letters)."""
    text = read_path(require_letter(f"letters/{name}")).text
    return len(plan(text, asked_parts("hybrid", extract_rules(text), "all")))


def test_the_letters_are_asked_in_parts() -> None:
    assert [asked(name) for name in LETTERS] == [3, 2, 2]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default=perfect) as server:
        yield server


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in LETTERS:
        shutil.copyfile(require_letter(f"letters/{name}"), folder / name)
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "shopping.txt").write_text("milk\neggs\n")
    return folder


def config(endpoint: FakeOpenAI) -> LLMConfig:
    return LLMConfig(base_url=endpoint.base_url, model="fake", scope="all")


def batch(inbox: Path, out: Path, llm: LLMConfig, **options: Any) -> dict[str, Any]:
    options = {"backend": "hybrid", "concurrency": 4, **options}
    return run_batch(expand([str(inbox)]), BatchOptions(out=out, llm_config=llm, workers=2, **options))


def by_path(out: Path) -> dict[str, dict[str, Any]]:
    return {Path(r["document"]["path"]).name: r for r in lines(out / "records.jsonl")}


def answered(requests: Path, endpoint: FakeOpenAI) -> list[str]:
    """A Batch API output file: every request of ``requests`` sent to the endpoint, in any order."""
    results = []
    for number, line in enumerate(requests.read_text().splitlines()):
        request = json.loads(line)
        sent = urllib.request.Request(
            endpoint.base_url + "/chat/completions",
            data=json.dumps(request["body"]).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(sent) as response:
            body = json.load(response)
        result = {"status_code": 200, "request_id": f"req_{number}", "body": body}
        results.append({"id": f"batch_req_{number}", "custom_id": request["custom_id"], "response": result})
    random.Random(3).shuffle(results)
    return [json.dumps({**result, "error": None}) for result in results]


def test_a_live_hybrid_batch_cross_checks_every_letter(
    inbox: Path, tmp_path: Path, endpoint: FakeOpenAI
) -> None:
    summary = batch(inbox, tmp_path / "out", config(endpoint))

    assert summary["status"]["done"] == 3
    assert summary["status"]["failed"] == 2
    records = by_path(tmp_path / "out")
    for record in records.values():
        assert record["provenance"]["backend"] == "hybrid"
        assert record["provenance"]["model"] == "fake"
        assert record["provenance"]["usage"]["prompt_tokens"] > 0
        assert any(check["status"] == "agree" for check in record["checks"])
    assert {name: record["provenance"]["attempts"] for name, record in records.items()} == {
        name: asked(name) for name in LETTERS
    }
    assert summary["tokens"] == summary["run_tokens"]
    assert summary["tokens"]["completion_tokens"] > 0


def test_prepared_requests_are_what_the_llm_pass_sends(
    inbox: Path, tmp_path: Path, endpoint: FakeOpenAI
) -> None:
    requests = tmp_path / "requests.jsonl"
    summary = batch(inbox, tmp_path / "out", config(endpoint), prepare_batch=requests)

    assert summary["status"]["prepared"] == 3
    assert summary["status"]["failed"] == 2
    assert summary["records"] == 0
    prepared = [json.loads(line) for line in requests.read_text().splitlines()]
    assert len(prepared) == sum(asked(name) for name in LETTERS)
    for line in prepared:
        assert set(line) == {"custom_id", "method", "url", "body"}
        assert (line["method"], line["url"]) == ("POST", "/v1/chat/completions")
        assert CUSTOM_ID.match(line["custom_id"])
        assert len(line["custom_id"]) <= 64
    assert len({line["custom_id"] for line in prepared}) == len(prepared)

    text = read_path(inbox / TWO_ITEMS).text
    digest = hashlib.sha256((inbox / TWO_ITEMS).read_bytes()).hexdigest()[:24]
    mine = sorted(
        (line for line in prepared if line["custom_id"].startswith(digest)),
        key=lambda line: int(line["custom_id"].rsplit("-", 2)[1][1:]),
    )
    assert [line["custom_id"].rsplit("-", 2)[1][0] for line in mine] == ["p", "i", "i"]
    # each request names its own kind's prompt version
    versions = [line["custom_id"].rsplit("-", 3)[1] for line in mine]
    assert versions == [kind_version("patient"), kind_version("item"), kind_version("item")]
    before = len(endpoint.requests)
    extract_with_llm(text, config(endpoint), asked=Asked(header=False))
    assert [received.json for received in endpoint.requests[before:]] == [line["body"] for line in mine]


def test_ingest_gives_the_records_a_live_run_gives(inbox: Path, tmp_path: Path, endpoint: FakeOpenAI) -> None:
    llm = config(endpoint)
    batch(inbox, tmp_path / "live", llm)
    requests, results = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    batch(inbox, tmp_path / "out", llm, prepare_batch=requests)
    results.write_text("\n".join(answered(requests, endpoint)) + "\n")

    summary = batch(inbox, tmp_path / "out", llm, ingest=results)

    assert summary["status"]["done"] == 3
    assert summary["status"]["skipped"] == 2  # the errors found while preparing
    assert summary["records"] + summary["errors"] == summary["inputs"]
    live, ingested = by_path(tmp_path / "live"), by_path(tmp_path / "out")
    for name, record in ingested.items():
        assert record["provenance"]["prompt_version"] == live[name]["provenance"]["prompt_version"]
        assert record["provenance"]["prompt_version"] in {
            prompt_version(["patient", "item"]),
            prompt_version(["item"]),
        }
        for part in ("determination", "evidence", "checks", "needs_review"):
            assert record[part] == live[name][part], (name, part)
    assert ingested[TWO_ITEMS]["provenance"]["attempts"] == asked(TWO_ITEMS)


def test_ingest_types_failed_results_and_leaves_missing_ones_pending(
    inbox: Path, tmp_path: Path, endpoint: FakeOpenAI
) -> None:
    shutil.copyfile(require_letter("letters/CM17-0001749.pdf"), inbox / "unanswered.pdf")
    llm = config(endpoint)
    requests = tmp_path / "requests.jsonl"
    batch(inbox, tmp_path / "out", llm, prepare_batch=requests)
    prepared: dict[str, list[dict[str, Any]]] = {}
    for line in requests.read_text().splitlines():
        request = json.loads(line)
        prepared.setdefault(request["custom_id"][:24], []).append(request)
    good, server_error, engine_error = (
        prepared[hashlib.sha256((inbox / name).read_bytes()).hexdigest()[:24]] for name in LETTERS
    )

    def result(request: dict[str, Any], status: int, body: Any) -> str:
        response = {"status_code": status, "request_id": "r", "body": body}
        return json.dumps({"id": "b", "custom_id": request["custom_id"], "response": response, "error": None})

    made = [result(request, 200, perfect_completion(request["body"])) for request in good]
    made.extend(result(request, 500, {"error": {"message": "overloaded"}}) for request in server_error)
    expired = {"code": "batch_expired", "message": "not done in time"}
    made.extend(
        json.dumps({"custom_id": request["custom_id"], "response": None, "error": expired})
        for request in engine_error
    )
    (tmp_path / "results.jsonl").write_text("\n".join(made) + "\n")

    summary = batch(inbox, tmp_path / "out", llm, ingest=tmp_path / "results.jsonl")

    assert summary["status"]["done"] == 1
    assert summary["status"]["failed"] == 2
    assert summary["status"]["pending"] == 1
    assert summary["errors_by_type"] == {
        "empty_document": 1, "llm_error": 1, "llm_server_error": 1, "not_imr_letter": 1
    }  # fmt: skip
    errors = lines(tmp_path / "out" / "errors.jsonl")
    assert "batch_expired" in next(e for e in errors if e["error"]["type"] == "llm_error")["error"]["message"]

    redo = batch(inbox, tmp_path / "out", llm, retry_errors=True)  # failures and the unanswered, live
    assert redo["status"]["done"] == 3
    assert redo["records"] == 4
    assert redo["errors_by_type"] == {"empty_document": 1, "not_imr_letter": 1}


def test_an_invalid_answer_in_the_results_is_an_invalid_output_error(
    inbox: Path, tmp_path: Path, endpoint: FakeOpenAI
) -> None:
    llm = config(endpoint)
    requests = tmp_path / "requests.jsonl"
    batch(inbox, tmp_path / "out", llm, prepare_batch=requests)
    broken = []
    for line in answered(requests, endpoint):
        result = json.loads(line)
        message = result["response"]["body"]["choices"][0]["message"]
        message["tool_calls"][0]["function"]["arguments"] = '{"case": 5, "items": []}'
        broken.append(json.dumps(result))
    (tmp_path / "results.jsonl").write_text("\n".join(broken) + "\n")

    summary = batch(inbox, tmp_path / "out", llm, ingest=tmp_path / "results.jsonl")

    assert summary["errors_by_type"]["llm_invalid_output"] == 3
    for error in lines(tmp_path / "out" / "errors.jsonl"):
        assert "milk" not in error["error"]["message"]  # never the letter's text


def test_a_results_file_of_other_requests_is_refused(
    inbox: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps({"custom_id": "request-1", "response": {}}) + "\n")
    with pytest.raises(ResultsFileError):
        batch(inbox, tmp_path / "out", LLMConfig(model="fake", scope="all"), ingest=results)

    assert cli("batch", str(inbox), "--out", str(tmp_path / "out"), "--ingest", str(results)) == 2
    assert "line 1 is not a result" in capsys.readouterr().err
    assert (
        cli("batch", str(inbox), "--out", str(tmp_path / "o"), "--backend", "rules", "--ingest", str(results))
        == 2
    )
    assert "need the llm or hybrid backend" in capsys.readouterr().err


def test_a_failing_endpoint_keeps_every_rules_record_and_a_later_run_completes_them(
    inbox: Path, tmp_path: Path, endpoint: FakeOpenAI
) -> None:
    """Degraded, not lost: a hybrid letter whose LLM pass fails is its rules record, flagged;
    --retry-llm redoes exactly those letters once the endpoint answers again."""
    out = tmp_path / "out"
    with FakeOpenAI(default=status(503)) as down:
        failing = LLMConfig(base_url=down.base_url, model="fake", transport_retries=0, scope="all")
        summary = batch(inbox, out, failing)
    assert (summary["records"], summary["errors"], summary["llm_failed"]) == (3, 2, 3)
    for record in by_path(out).values():
        (failed,) = [c for c in record["checks"] if (c["note"] or "").startswith(LLM_FAILED)]
        assert failed["note"].startswith(f"{LLM_FAILED}: llm_server_error: ")
        assert record["needs_review"]
        assert record["determination"]["items"]  # the rules pass's items, with their evidence
        assert any(key.startswith("determination.items[0].") for key in record["evidence"])

    again = batch(inbox, out, config(endpoint))  # without --retry-llm nothing is redone
    assert (again["status"]["done"], again["llm_failed"]) == (0, 3)

    before = len(endpoint.requests)
    redo = batch(inbox, out, config(endpoint), retry_llm=True)
    assert redo["status"]["done"] == 3
    assert (redo["records"], redo["errors"], redo["llm_failed"]) == (3, 2, 0)
    assert len(endpoint.requests) - before == sum(asked(name) for name in LETTERS)
    records = lines(out / "records.jsonl")
    assert len(records) == 3  # each letter once: the kept rules records were replaced
    for record in records:
        assert not any((c["note"] or "").startswith(LLM_FAILED) for c in record["checks"])
        assert record["provenance"]["usage"]["prompt_tokens"] > 0


def test_prepare_writes_only_the_doubtful_parts_and_ingest_completes_each_letter_once(
    tmp_path: Path, endpoint: FakeOpenAI
) -> None:
    """Over the shared letters: the letters the rules are sure of are final at once, the others'
    doubtful parts alone are requested, and ingesting the answers completes each exactly once."""
    letters = shared_root() / "letters"
    llm = LLMConfig(base_url=endpoint.base_url, model="fake", scope="doubtful")
    requests, results, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl", tmp_path / "out"
    names = sorted(path.name for path in letters.glob("*.pdf"))
    texts = {name: read_path(letters / name).text for name in names}
    doubtful = {
        name: len(plan(text, parts))
        for name, text in texts.items()
        if (parts := asked_parts("hybrid", extract_rules(text), "doubtful")).anything
    }

    prepared = batch(letters, out, llm, prepare_batch=requests)

    assert prepared["status"]["prepared"] == len(doubtful)
    final = by_path(out)
    assert sorted(final) == sorted(set(names) - set(doubtful))
    for record in final.values():
        assert (record["provenance"]["backend"], record["provenance"]["requests"]) == ("hybrid", 0)
    written = [json.loads(line) for line in requests.read_text().splitlines()]
    assert len(written) == sum(doubtful.values())
    every_part = sum(
        len(plan(text, asked_parts("hybrid", extract_rules(text), "all"))) for text in texts.values()
    )
    assert len(written) < every_part

    results.write_text("\n".join(answered(requests, endpoint)) + "\n")
    ingested = batch(letters, out, llm, ingest=results)

    assert ingested["status"]["done"] == len(doubtful)
    records = lines(out / "records.jsonl")
    assert sorted(Path(r["document"]["path"]).name for r in records) == names  # each letter once
    for record in records:
        name = Path(record["document"]["path"]).name
        assert record["provenance"]["requests"] == doubtful.get(name, 0)
    again = batch(letters, out, llm, ingest=results)
    assert again["status"]["done"] == 0
    assert len(lines(out / "records.jsonl")) == len(names)
