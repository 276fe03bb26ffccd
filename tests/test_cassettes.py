"""The cassette machinery against a real (tiny, local) OpenAI-compatible server and the real client.

Nothing here calls a live endpoint: the server is ``support.fake_openai.FakeOpenAI`` on 127.0.0.1
(it also sends a cookie and a request id, which no cassette may keep), and every replay runs
with it stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import instructor
import openai
import pytest
import yaml  # type: ignore[import-untyped]
from instructor.core import InstructorRetryException
from pydantic import BaseModel

from evals import cassettes
from evals.cassettes import MissingCassette, use_fixture_cassette
from support import fake_openai as fake
from support.fake_openai import FakeOpenAI, completion

SECRET_KEY = "sk-test-SECRET-KEY-0123456789"
SECRET_ORG = "org-SECRET-ORGANISATION"
MARKER = "LETTER-TEXT-MARKER-7f3a9"
MODEL = "tiny-model"
ANSWER = completion({"answer": "forty-two"}, shape="content", usage=(7, 5))
SECRET_HEADERS = {"Set-Cookie": "session=SECRET-COOKIE", "X-Request-Id": "req-SECRET-ID"}
PV1, PV2 = {"item": "pv1"}, {"item": "pv2"}
"""Prompt versions by kind, as the harness passes them: the item prompt before and after an edit."""


class Answer(BaseModel):
    answer: str


def fake_server() -> FakeOpenAI:
    """A chat-completions endpoint on 127.0.0.1 answering every request with ``ANSWER``."""
    return FakeOpenAI(default=ANSWER, headers=SECRET_HEADERS)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_server() as fake:
        yield fake


def ask(url: str, prompt: str, *, api_key: str = SECRET_KEY, max_retries: int = 0) -> Answer:
    """One structured call the way the LLM pass makes them: instructor over the openai client."""
    raw = openai.OpenAI(base_url=url, api_key=api_key, organization=SECRET_ORG, max_retries=max_retries)
    with raw:
        client = instructor.from_openai(raw, mode=instructor.Mode.JSON)
        return client.chat.completions.create(
            model=MODEL,
            response_model=Answer,
            messages=[{"role": "user", "content": f"Read this letter: {prompt}"}],
            max_retries=1,
        )


def record(root: Path, url: str, prompt: str = MARKER, fixture: str = "letter-1") -> Path:
    with use_fixture_cassette(fixture, model=MODEL, prompt_versions=PV1, record="new_episodes", root=root):
        assert ask(url, prompt).answer == "forty-two"
    return cassettes.cassette_path(fixture, MODEL, root)


def test_record_stores_no_secret_and_no_letter_text(tmp_path: Path, server: FakeOpenAI) -> None:
    path = record(tmp_path, server.base_url)
    assert path == tmp_path / "tiny-model" / "letter-1.yaml"
    text = path.read_text()
    for secret in (SECRET_KEY, SECRET_ORG, MARKER, "Bearer", "SECRET-COOKIE", "req-SECRET-ID", "Read this"):
        assert secret not in text
    lowered = text.lower()
    for header in (*cassettes.FILTER_HEADERS, "x-request-id", "content-length"):
        assert f"{header}:" not in lowered
    data = yaml.safe_load(text)
    (interaction,) = data["interactions"]
    stub = json.loads(interaction["request"]["body"])
    assert set(stub) == {"sha256"}
    assert len(stub["sha256"]) == 64
    assert set(interaction["response"]["headers"]) == {"content-type"}
    assert data["metadata"] == {"fixture": "letter-1", "model": MODEL, "prompt_versions": PV1}
    assert len(server.requests) == 1
    assert MARKER in json.dumps(server.requests[0].json)  # the marker did reach the server


def test_replay_needs_no_server_and_no_key(
    tmp_path: Path, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(tmp_path, server.base_url)
    server.stop()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with cassettes.dummy_api_key():
        raw = openai.OpenAI(base_url=server.base_url)  # constructs: a dummy key is lent
        raw.close()
        with use_fixture_cassette("letter-1", model=MODEL, prompt_versions=PV1, root=tmp_path):
            assert ask(server.base_url, MARKER, api_key="another-key").answer == "forty-two"
            # the same request again replays too (llm and hybrid share one cassette)
            assert ask(server.base_url, MARKER, api_key="another-key").answer == "forty-two"
    assert "OPENAI_API_KEY" not in os.environ
    assert len(server.requests) == 1


def test_changed_body_is_a_clear_missing_cassette(tmp_path: Path, server: FakeOpenAI) -> None:
    record(tmp_path, server.base_url)
    server.stop()
    with (
        pytest.raises(MissingCassette) as caught,
        use_fixture_cassette("letter-1", model=MODEL, prompt_versions=PV1, root=tmp_path),
    ):
        ask(server.base_url, MARKER + " changed", max_retries=1)  # the client retries the connection error
    message = str(caught.value)
    assert message.startswith("no cassette for letter-1 (model tiny-model, prompt_version item:pv1)")
    assert "re-record with `extractor eval --backend hybrid --record` (or `make record`)" in message
    assert MARKER not in message
    assert cassettes.find_cassette_miss(caught.value) is not None  # chained, for debugging


def test_explain_turns_a_caught_client_error_into_missing_cassette(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    record(tmp_path, server.base_url)
    server.stop()
    with use_fixture_cassette("letter-1", model=MODEL, prompt_versions=PV1, root=tmp_path) as replay:
        try:
            ask(server.base_url, "something else")
        except Exception as error:  # what the LLM pass would have wrapped
            missing = replay.explain(error)
        else:  # pragma: no cover
            pytest.fail("replay served a request it has no answer for")
        assert isinstance(missing, MissingCassette)
        assert replay.explain(ValueError("unrelated")) is None


def open_replay(
    root: Path, fixture: str, model: str, versions: dict[str, str], mode: str | None = None
) -> None:
    with use_fixture_cassette(fixture, model=model, prompt_versions=versions, root=root, mode=mode):
        pass


def test_absent_cassette_and_changed_prompt_version(tmp_path: Path, server: FakeOpenAI) -> None:
    absent = (
        r"no cassette for letter-2 \(model tiny-model, prompt_version item:pv1\) \[.*letter-2.yaml absent\]"
    )
    with pytest.raises(MissingCassette, match=absent):
        open_replay(tmp_path, "letter-2", MODEL, PV1)
    record(tmp_path, server.base_url)
    server.stop()
    with pytest.raises(MissingCassette, match="model other-model"):
        open_replay(tmp_path, "letter-1", "other-model", PV1)
    # A changed prompt misses only the requests it changes: the cassette opens, and a miss says
    # which kind's prompt changed since the recording (the header's is new, not changed).
    now = {"header": "h1", "item": "pv2"}
    open_replay(tmp_path, "letter-1", MODEL, now)
    with (
        pytest.raises(MissingCassette) as caught,
        use_fixture_cassette("letter-1", model=MODEL, prompt_versions=now, root=tmp_path),
    ):
        ask(server.base_url, MARKER + " as the edited prompt asks")
    assert str(caught.value) == (
        "no cassette for letter-1 (model tiny-model, prompt_version header:h1 item:pv2) "
        "[a request is not in the cassette; recorded with item prompt_version pv1]: "
        f"{cassettes.RERECORD_HINT}"
    )
    with use_fixture_cassette("letter-1", model=MODEL, prompt_versions=now, root=tmp_path):
        assert ask(server.base_url, MARKER).answer == "forty-two"  # a request the edit left as it was


def test_replay_in_another_mode_says_which(tmp_path: Path, server: FakeOpenAI) -> None:
    with use_fixture_cassette(
        "letter-1", model=MODEL, prompt_versions=PV1, record="new_episodes", root=tmp_path, mode="json"
    ):
        ask(server.base_url, MARKER)
    with pytest.raises(
        MissingCassette, match="recorded in instructor mode json, replayed in tools: pass --mode json"
    ):
        open_replay(tmp_path, "letter-1", MODEL, PV1, mode="tools")
    open_replay(tmp_path, "letter-1", MODEL, PV1, mode="json")


def test_record_all_starts_afresh(tmp_path: Path, server: FakeOpenAI) -> None:
    record(tmp_path, server.base_url, prompt="first")
    with use_fixture_cassette("letter-1", model=MODEL, prompt_versions=PV2, record="all", root=tmp_path):
        ask(server.base_url, "second")
    data = yaml.safe_load(cassettes.cassette_path("letter-1", MODEL, tmp_path).read_text())
    assert len(data["interactions"]) == 1
    assert data["metadata"]["prompt_versions"] == PV2


@pytest.mark.parametrize("mode", ["all", "new_episodes"])
def test_recording_an_endpoint_that_refuses_keeps_the_cassette(
    tmp_path: Path, server: FakeOpenAI, mode: cassettes.RecordMode
) -> None:
    """A 401 is not recorded, so the recording lacks an answer: it is not saved, whether the
    caller survived the error (a hybrid extraction keeps its rules record) or not."""
    path = record(tmp_path, server.base_url)
    kept = path.read_bytes()
    with FakeOpenAI(default=fake.status(401)) as refusing:
        with (
            use_fixture_cassette(
                "letter-1", model=MODEL, prompt_versions=PV2, record=mode, root=tmp_path
            ) as replay,
            pytest.raises(InstructorRetryException),
        ):
            ask(refusing.base_url, "another letter")
        assert replay.unanswered == 1
        assert path.read_bytes() == kept
        with (
            pytest.raises(InstructorRetryException),
            use_fixture_cassette("letter-1", model=MODEL, prompt_versions=PV2, record=mode, root=tmp_path),
        ):
            ask(refusing.base_url, "another letter")
    assert path.read_bytes() == kept
    assert sorted(path.parent.iterdir()) == [path]  # no draft left beside it


def test_a_retried_request_recorded_in_the_end_is_answered(tmp_path: Path) -> None:
    """A 503 then the answer, for the same request: the cassette is saved with that answer."""
    with (
        FakeOpenAI(script=[fake.status(503)], default=ANSWER) as flaky,
        use_fixture_cassette(
            "letter-1", model=MODEL, prompt_versions=PV1, record="all", root=tmp_path
        ) as replay,
    ):
        assert ask(flaky.base_url, MARKER, max_retries=1).answer == "forty-two"
    assert replay.unanswered == 0
    data = yaml.safe_load(cassettes.cassette_path("letter-1", MODEL, tmp_path).read_text())
    assert len(data["interactions"]) == 1


def test_filters_are_idempotent_and_drop_errors() -> None:
    from vcr.request import Request

    scrubber = cassettes.Scrubber()
    request = Request("POST", "http://h/v1/chat/completions", b'{"x": "letter"}', {"Content-Length": "15"})
    once = scrubber.request(request)
    twice = scrubber.request(once)
    assert once.body == twice.body
    assert "content-length" not in {k.lower() for k in twice.headers}
    assert cassettes.body_digest(once.body) == cassettes.body_digest(b'{"x": "letter"}')
    cassettes.digest_matcher(once, Request("POST", "http://h/v1/chat/completions", b'{"x": "letter"}', {}))
    with pytest.raises(AssertionError):
        cassettes.digest_matcher(once, Request("POST", "http://h/v1/chat/completions", b'{"x": "other"}', {}))
    for code in (400, 401, 404, 429, 500, 503):
        assert scrubber.response({"status": {"code": code}, "headers": {}, "body": {"string": ""}}) is None
    kept = scrubber.response(
        {
            "status": {"code": 200},
            "headers": {"Content-Type": ["a/b"], "X-Id": ["1"]},
            "body": {"string": "{}"},
        }
    )
    assert kept is not None
    assert kept["headers"] == {"Content-Type": ["a/b"]}


def test_a_key_seen_in_a_request_is_redacted_from_url_and_answer() -> None:
    from vcr.request import Request

    scrubber = cassettes.Scrubber()
    headers = {"Authorization": f"Bearer {SECRET_KEY}", "api-key": "azure-SECRET-KEY-42"}
    url = "http://h/v1/chat/completions?api-key=azure-SECRET-KEY-42"
    request = scrubber.request(Request("POST", url, b"{}", headers))
    assert "SECRET" not in request.uri
    assert not request.headers
    body = f'{{"echo": "{SECRET_KEY} azure-SECRET-KEY-42"}}'.encode()
    answer = scrubber.response({"status": {"code": 200}, "headers": {}, "body": {"string": body}})
    assert answer is not None
    assert answer["body"]["string"] == b'{"echo": "<redacted> <redacted>"}'


def echo_key(received: Any) -> Any:
    """An endpoint that quotes the key it was sent, as some error pages do."""
    key = received.headers.get("authorization", "")
    return fake.status(401, body={"error": {"message": f"Incorrect API key provided: {key}"}})


def test_a_server_echoing_the_key_never_puts_it_in_a_cassette(tmp_path: Path) -> None:
    with FakeOpenAI(default=fake.respond(echo_key)) as echoing:
        with (
            pytest.raises(InstructorRetryException, match="Incorrect API key"),
            use_fixture_cassette(
                "letter-1", model=MODEL, prompt_versions=PV1, record="new_episodes", root=tmp_path
            ),
        ):
            ask(echoing.base_url, MARKER)
        echoing.enqueue(fake.completion({"answer": f"your key is {SECRET_KEY}"}, shape="content"))
        path = record_answer(tmp_path, echoing.base_url)
    text = path.read_text()
    assert SECRET_KEY not in text
    assert "Incorrect API key" not in text  # the 401 was not recorded at all
    (interaction,) = yaml.safe_load(text)["interactions"]
    assert "your key is <redacted>" in interaction["response"]["body"]["string"]


def record_answer(root: Path, url: str) -> Path:
    with use_fixture_cassette("letter-1", model=MODEL, prompt_versions=PV1, record="new_episodes", root=root):
        ask(url, MARKER)
    return cassettes.cassette_path("letter-1", MODEL, root)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda text: text[: len(text) // 2] + "\n  - {unclosed: [", id="cut-mid-file"),
        pytest.param(lambda text: "just a string\n", id="not-a-mapping"),
        pytest.param(lambda text: "interactions:\n- request: 5\n", id="wrong-shape"),
        pytest.param(lambda text: "\t: : :\n", id="not-yaml"),
    ],
)
def test_a_damaged_cassette_is_one_line_naming_the_file(
    tmp_path: Path, server: FakeOpenAI, damage: Any
) -> None:
    path = record(tmp_path, server.base_url)
    path.write_text(damage(path.read_text()))
    with pytest.raises(cassettes.DamagedCassette) as caught:
        open_replay(tmp_path, "letter-1", MODEL, PV1)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert "delete it and re-record with `extractor eval --backend hybrid --record`" in message
    assert isinstance(caught.value, MissingCassette)  # the harness scores it as a missing run


def test_a_cassette_that_is_not_text_is_damaged_too(tmp_path: Path, server: FakeOpenAI) -> None:
    path = record(tmp_path, server.base_url)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(cassettes.DamagedCassette, match="holds no recorded answer"):
        open_replay(tmp_path, "letter-1", MODEL, PV1)


def test_model_folder_names() -> None:
    assert cassettes.model_slug("qwen2.5-coder-1.5b-instruct") == "qwen2.5-coder-1.5b-instruct"
    assert cassettes.model_slug("org/model:tag") == "org_model_tag"
    assert cassettes.model_slug(None) == "default"


# --------------------------------------------------------------------------- pytest-recording


@pytest.fixture(scope="module")
def vcr_cassette_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A cassette recorded here (server then stopped), for the pytest-recording replay below."""
    root = tmp_path_factory.mktemp("cassettes")
    with fake_server() as fake, cassettes.make_vcr("new_episodes", root).use_cassette("recorded.yaml"):
        assert ask(fake.base_url, MARKER).answer == "forty-two"
    return str(root)


@pytest.mark.vcr("recorded.yaml")
def test_pytest_recording_replays_with_conftest_config(vcr: Any, vcr_cassette_dir: str) -> None:
    """tests/conftest.py's vcr_config and matcher: replay under --record-mode=none, no server."""
    assert vcr.record_mode == "none"
    url = "http://127.0.0.1:9/v1"  # nothing listens; the path and body digest match
    assert ask(url, MARKER, api_key="k").answer == "forty-two"
    with pytest.raises((openai.APIConnectionError, InstructorRetryException)) as caught:
        ask(url, "not recorded", api_key="k")
    assert cassettes.find_cassette_miss(caught.value) is not None
