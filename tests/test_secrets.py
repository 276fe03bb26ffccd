"""Secrets and PHI: a fake key through eval --record, eval (replay) and batch, at every log level.

With ``OPENAI_API_KEY`` set to a fresh fake key, the real commands run as subprocesses against
``tests.fake_openai.FakeOpenAI`` on 127.0.0.1 (it also sets a cookie and an organisation),
their stdout and stderr captured to files: the log at the default level and at DEBUG (``-vv``),
and, from each DEBUG log, the same log at INFO (its records but the DEBUG ones, as ``-v``
writes them; one run gives both, which keeps this test to six commands).  Then every cassette, log,
report and output file is searched for the key, for ``Bearer`` and for Authorization header
values, and for whole sentences of the letters: none may be there.  Allowed: a cassette keeps
the model's answers (requests, diagnoses: values read from the letter, not its sentences), and
records.jsonl and items.csv hold each item's decision rationale, which the record contract
quotes from the letter; the case summary's sentences are in neither.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from extractor.pipeline import LLM_FAILED
from extractor.reading import read_path
from tests.documents import require_letter, shared_root
from tests.fake_openai import FakeOpenAI, Received, Step, invalid_against_schema, perfect, status

FIXTURES = ["CM16-0219557", "CM16-0230548"]
ECHOED = "synthetic/prompt-injection.txt"  # in the batches: its answers are invalid, quoting it
ECHO = "She reported low back pain radiating to the right leg after lifting a box of files onto a shelf."
COOKIE = "session-" + secrets.token_hex(8)
LEVELS = {"default": [], "debug": ["-vv"]}
AUTHORIZATION = re.compile(r"authorization['\"]?\s*[:=,]\s*['\"]?\S", re.IGNORECASE)


@dataclass(frozen=True)
class Run:
    """One command: its name, log level (default or debug), and the files of its stdout and stderr."""

    name: str
    level: str
    stdout: Path
    stderr: Path
    returncode: int


@dataclass(frozen=True)
class Session:
    key: str
    root: Path
    runs: list[Run]

    def files(self) -> list[Path]:
        """Everything the commands wrote: cassettes, reports, outputs and the captured logs."""
        return sorted(path for path in self.root.rglob("*") if path.is_file() and "inbox" not in path.parts)


_RECORD = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ", re.MULTILINE)


def info_view(log: str) -> str:
    """A ``-vv`` log as ``-v`` would have written it: every record but the DEBUG ones.

    A record starts with ``LEVEL logger: `` (the CLI's format) and runs to the next one, so a
    traceback stays with its record; text printed outside logging is kept.
    """
    starts = [m.start() for m in _RECORD.finditer(log)]
    kept = [log[: starts[0]] if starts else log]
    for start, end in zip(starts, [*starts[1:], len(log)], strict=True):
        if not log.startswith("DEBUG ", start):
            kept.append(log[start:end])
    return "".join(kept)


def _env(key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EXTRACTOR_"))}
    env["OPENAI_API_KEY"] = key
    env["IMR_DOCUMENTS"] = str(shared_root())
    return env


def _start(
    root: Path, name: str, level: str, args: list[str], key: str
) -> tuple[Run, subprocess.Popen[bytes]]:
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    run = Run(name, level, logs / f"{name}.stdout", logs / f"{name}.stderr", 0)
    command = [sys.executable, "-m", "extractor", *LEVELS[level], *args]
    with open(run.stdout, "wb") as out, open(run.stderr, "wb") as err:
        process = subprocess.Popen(command, env=_env(key), stdout=out, stderr=err)
    return run, process


def _finish(started: list[tuple[Run, subprocess.Popen[bytes]]]) -> list[Run]:
    runs = []
    for run, process in started:
        code = process.wait(timeout=120)
        runs.append(Run(run.name, run.level, run.stdout, run.stderr, code))
        if run.level == "debug":  # and the same log at INFO, beside it
            run.stderr.with_suffix(".info-stderr").write_text(info_view(contents(run.stderr)))
    return runs


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """eval --record, eval (replay) and batch (hybrid and llm), at DEBUG and the default level."""
    key = "sk-test-" + secrets.token_hex(24)
    root = tmp_path_factory.mktemp("secrets")
    inbox = root / "inbox"
    inbox.mkdir()
    for number in FIXTURES:
        (inbox / f"{number}.pdf").write_bytes(require_letter(f"letters/{number}.pdf").read_bytes())
    (inbox / "echoed.txt").write_bytes(require_letter(ECHOED).read_bytes())
    only = ["--only", *FIXTURES]
    cassettes = ["--cassettes", str(root / "cassettes")]

    def evaluate(name: str, *more: str) -> list[str]:
        report = ["--report", str(root / "reports" / f"{name}.json")]
        return ["eval", "--backend", "llm,hybrid", *only, *cassettes, *url, *report, *more]

    def batch(backend: str, level: str) -> list[str]:
        out = root / "out" / f"{backend}-{level}"
        return ["batch", str(inbox), "--out", str(out), "--backend", backend, *url, "--workers", "1"]

    headers = {"Set-Cookie": COOKIE, "OpenAI-Organization": "org-" + COOKIE}
    # One 503 (retried at once: a warning on some run's stderr), then perfect answers, except
    # for one letter: invalid on every attempt, quoting the letter where the schema refuses it.
    first = [status(503, headers={"Retry-After": "0"})]
    with FakeOpenAI(script=first, default=echo_invalid, headers=headers) as fake:
        url = ["--base-url", fake.base_url]
        started = [_start(root, "record-debug", "debug", evaluate("record", "--record"), key)]
        started += [
            _start(root, f"batch-{backend}-{level}", level, batch(backend, level), key)
            for backend, level in [("hybrid", "default"), ("hybrid", "debug"), ("llm", "debug")]
        ]
        runs = _finish(started)
    # the key did go out, on every request: its absence below means something
    assert {received.headers.get("authorization") for received in fake.requests} == {f"Bearer {key}"}

    # replay: the server is gone (the same URL, nothing listening); the cassettes answer
    runs += _finish(
        [
            _start(root, "replay-default", "default", evaluate("replay-default"), key),
            _start(root, "replay-debug", "debug", evaluate("replay-debug"), key),
        ]
    )
    return Session(key, root, runs)


def echo_invalid(received: Received) -> Step:
    if "CM17-0187342" in received.text:  # the echoed letter's case number
        return invalid_against_schema(
            {"case": {"case_number": ECHO}, "patient": {"age": ECHO}, "items": [{"request": ECHO}]}
        )
    return perfect(received)


def letter_sentences(part: str) -> list[str]:
    """Lines of the letters' text, long and plain enough to be found verbatim in any dump:
    ``summary`` (the case summary, in no output at all) or ``rationale`` (quoted by records)."""
    found = [ECHO] if part == "summary" else []
    for document in [*(f"letters/{number}.pdf" for number in FIXTURES), ECHOED]:
        text = read_path(require_letter(document)).text
        summary, _, decisions = text.partition("IMR ISSUES, DECISIONS AND RATIONALES")
        section = summary.partition("CLINICAL CASE SUMMARY")[2] if part == "summary" else decisions
        for line in section.splitlines():
            line = line.strip()
            if (
                len(line) >= 60
                and line.isascii()
                and not set(line) & set("\"'\\")
                and "guideline" not in line
            ):
                found.append(line)
    assert len(found) > 10
    return found


def contents(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def test_every_command_ran(session: Session) -> None:
    for run in session.runs:
        assert run.returncode == 0, (run.name, contents(run.stderr)[-2000:])
    names = {path.name for path in session.files()}
    assert {"records.jsonl", "summary.json", "items.csv"} <= names
    cassettes = [path for path in session.files() if path.suffix == ".yaml"]
    assert len(cassettes) == len(FIXTURES)
    for run in session.runs:
        if run.name.startswith("replay"):
            assert "no cassette" not in contents(run.stdout), run.name
    for out in ("hybrid-default", "hybrid-debug"):  # the invalid answer's letter keeps its rules record
        records = (session.root / "out" / out / "records.jsonl").read_text().splitlines()
        assert len(records) == len(FIXTURES) + 1, out
        assert sum(f"{LLM_FAILED}: llm_invalid_output: " in line for line in records) == 1, out
        assert (session.root / "out" / out / "errors.jsonl").read_text() == ""
    records = (session.root / "out" / "llm-debug" / "records.jsonl").read_text().splitlines()
    assert len(records) == len(FIXTURES)
    (error,) = (session.root / "out" / "llm-debug" / "errors.jsonl").read_text().splitlines()
    assert '"type": "llm_invalid_output"' in error
    stderr = "".join(contents(run.stderr) for run in session.runs)
    assert "LLM request failed (HTTP 503); retrying" in stderr
    info = contents(session.root / "logs" / "batch-hybrid-debug.info-stderr")
    assert "INFO httpx2: HTTP Request: POST" in info  # the INFO view holds INFO lines
    assert "DEBUG " not in info


def test_no_key_no_bearer_no_authorization_anywhere(session: Session) -> None:
    files = session.files()
    assert len(files) > 20
    for path in files:
        text = contents(path)
        assert session.key not in text, path
        assert session.key[8:24] not in text, path  # not even part of it
        assert "Bearer" not in text, path
        assert not AUTHORIZATION.search(text), (path, AUTHORIZATION.search(text))
        if path.suffix == ".yaml":
            assert COOKIE not in text, path  # the endpoint's cookie and organisation are not kept


def test_no_letter_sentences_in_cassettes_reports_logs_or_outputs(session: Session) -> None:
    summary, rationale = letter_sentences("summary"), letter_sentences("rationale")
    debug_logs = {run.stderr for run in session.runs if run.level == "debug"}
    for path in session.files():
        if path in debug_logs:
            continue  # see test_debug_logging_keeps_the_letter_out
        text = contents(path)
        assert not [line for line in summary if line in text], path
        if path.name not in ("records.jsonl", "items.csv"):  # the record quotes each rationale
            assert not [line for line in rationale if line in text], path


def test_the_default_level_logs_no_letter_text(session: Session) -> None:
    lines = [line[:40] for line in letter_sentences("summary") + letter_sentences("rationale")]
    for run in session.runs:
        if run.level == "default":
            stderr = contents(run.stderr)
            assert not [line for line in lines if line in stderr], run.name


def test_debug_logging_keeps_the_letter_out(session: Session) -> None:
    sentences = letter_sentences("summary") + letter_sentences("rationale")
    for run in session.runs:
        if run.level == "debug":
            stderr = contents(run.stderr)
            assert not [line for line in sentences if line in stderr], run.name
