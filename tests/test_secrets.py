"""Secrets and PHI: a fake key through eval --record, eval (replay) and batch, at every log level.

With ``OPENAI_API_KEY`` set to a fresh fake key, the real commands run as subprocesses against
``support.fake_openai.FakeOpenAI`` on 127.0.0.1 (it also sets a cookie and an organisation),
their stdout and stderr captured to files: the log at the default level and at DEBUG (``-vv``),
and, from each DEBUG log, the same log at INFO (its records but the DEBUG ones, as ``-v``
writes them; one run gives both, which keeps this test to six commands).  Then every cassette, log,
report and output file is searched for the key, for ``Bearer`` and for Authorization header
values, and for whole sentences of the letters: none may be there.  Allowed: a cassette keeps
the model's answers (requests, diagnoses: values read from the letter, not its sentences), and
records.jsonl and items.csv hold each item's decision rationale, which the record contract
quotes from the letter; the case summary's sentences are in neither.

Whole sentences can hide (YAML folds lines, JSON escapes them), so two synthetic letters also
carry canaries: a unique marker in the case summary (found nowhere, in any form) and another in
an item's rationale (only in the records that quote it).  One of them gets invalid answers that
quote both, so the markers are also offered to error lines, errors.jsonl and the eval's report;
``extract`` runs on both beside the batches and the evals.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from evals.fixtures import FIXTURES_DIR
from extractor.pipeline import LLM_FAILED
from extractor.reading import read_path
from support.fake_openai import FakeOpenAI, Received, Step, invalid_against_schema, perfect, status
from tests.documents import require_letter, shared_root, summary_line

FIXTURES = ["CM16-0219557", "CM16-0230548"]
ECHOED = "synthetic/prompt-injection.txt"  # in the batches: its answers are invalid, quoting it
ECHO = "She reported low back pain radiating to the right leg after lifting a box of files onto a shelf."
COOKIE = "session-" + secrets.token_hex(8)
LEVELS = {"default": [], "debug": ["-vv"]}
AUTHORIZATION = re.compile(r"authorization['\"]?\s*[:=,]\s*['\"]?\S", re.IGNORECASE)

SUMMARY_MARK = f'Smry{secrets.token_hex(6)} "canary\u00e9"'
"""In the canary letters' case summary: no file or log may hold it."""
RATIONALE_MARK = f'Rtnl{secrets.token_hex(6)} "canary\u00e9"'
"""In an item's rationale: only the records, which quote each rationale, may hold it."""
QUOTED_BY_RECORDS = ("records.jsonl", "items.csv", "extract.json")
CANARIES = {"canary": "CM17-0094413", "canary-echoed": "CM17-0094414"}
"""The canary letters and their case numbers; the second gets invalid answers quoting it."""
MANY_ITEMS = "synthetic/many-items.txt"


def canary_letter(case_number: str) -> str:
    """The many-items synthetic letter with both markers and its own case number."""
    text = (FIXTURES_DIR / MANY_ITEMS).read_text(encoding="utf-8").replace("CM17-0094412", case_number)
    text = text.replace(
        "all medical records:\n",
        f"all medical records:\nThe file {case_number} was tagged {SUMMARY_MARK}.\n",
        1,
    )
    marked = text.replace("Repeat imaging is reserved", f"{RATIONALE_MARK} Repeat imaging is reserved", 1)
    assert SUMMARY_MARK in marked
    assert RATIONALE_MARK in marked
    return marked


def canary_label(name: str, case_number: str) -> str:
    """The many-items label for a canary letter, so ``eval`` scores it too."""
    label = json.loads((FIXTURES_DIR / "synthetic-many-items.json").read_text(encoding="utf-8"))
    label["document"] = {"id": name, "path": f"synthetic/{name}.txt"}
    label["determination"]["case"]["case_number"] = case_number
    return json.dumps(label)


def forms(marker: str) -> list[str]:
    """The marker as a file may hold it: as is, JSON-escaped (both ways) and YAML-escaped, and
    its unique token alone, which no escaping or line folding splits."""
    return [
        marker,
        json.dumps(marker)[1:-1],
        json.dumps(marker, ensure_ascii=True)[1:-1],
        yaml.safe_dump(marker, default_style='"', allow_unicode=False).strip()[1:-1],
        yaml.safe_dump(marker, allow_unicode=True).strip().strip("'").removesuffix("\n..."),
        marker.split()[0],
    ]


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
        return sorted(
            path
            for path in self.root.rglob("*")
            if path.is_file() and not {"inbox", "labels"} & set(path.parts)
        )


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
    labels = root / "labels"
    (labels / "synthetic").mkdir(parents=True)
    for number in FIXTURES:
        (labels / f"{number}.json").write_bytes((FIXTURES_DIR / f"{number}.json").read_bytes())
    for name, case_number in CANARIES.items():
        (inbox / f"{name}.txt").write_text(canary_letter(case_number), encoding="utf-8")
        (labels / "synthetic" / f"{name}.txt").write_text(canary_letter(case_number), encoding="utf-8")
        (labels / f"{name}.json").write_text(canary_label(name, case_number), encoding="utf-8")
    only = ["--fixtures", str(labels), "--only", *FIXTURES, *CANARIES]
    cassettes = ["--cassettes", str(root / "cassettes")]

    def evaluate(name: str, *more: str) -> list[str]:
        report = ["--report", str(root / "reports" / f"{name}.json")]
        return ["eval", "--backend", "llm,hybrid", *only, *cassettes, *url, *report, *more]

    def extract(name: str) -> list[str]:
        output = root / "out" / f"extract-{name}"
        output.mkdir(parents=True)
        letter = str(inbox / f"{name}.txt")
        return [
            "extract",
            letter,
            "--backend",
            "hybrid",
            "--llm-scope",
            "all",
            *url,
            "-o",
            str(output / "extract.json"),
        ]

    def batch(backend: str, level: str) -> list[str]:
        out = root / "out" / f"{backend}-{level}"
        scope = ["--llm-scope", "all"]  # every part asked: each request carries its canaries
        return ["batch", str(inbox), "--out", str(out), "--backend", backend, *scope, *url, "--workers", "1"]

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
        started += [_start(root, f"extract-{name}", "debug", extract(name), key) for name in CANARIES]
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
    if summary_line(ECHOED) in received.text:
        return invalid_against_schema(
            {"case": {"case_number": ECHO}, "patient": {"age": ECHO}, "items": [{"request": ECHO}]}
        )
    if CANARIES["canary-echoed"] in received.text:
        quoted = f"{SUMMARY_MARK} {RATIONALE_MARK}"
        return invalid_against_schema(
            {"case": {"case_number": quoted}, "patient": {"age": quoted}, "items": [{"request": quoted}]}
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
    # the echoed canary's extract keeps its rules record (and says why); the llm batch has no
    # rules record to keep for the letter whose answers are always invalid: it exits 2
    for run in session.runs:
        expected = 2 if run.name == "batch-llm-debug" else 0
        assert run.returncode == expected, (run.name, contents(run.stderr)[-2000:])
    names = {path.name for path in session.files()}
    assert {"records.jsonl", "summary.json", "items.csv", "extract.json"} <= names
    cassettes = [path for path in session.files() if path.suffix == ".yaml"]
    assert len(cassettes) == len(FIXTURES) + len(CANARIES)
    for run in session.runs:
        if run.name.startswith("replay"):
            assert "no cassette" not in contents(run.stdout), run.name
    for out in ("hybrid-default", "hybrid-debug"):  # the two echoed letters keep their rules records
        records = (session.root / "out" / out / "records.jsonl").read_text().splitlines()
        assert len(records) == len(FIXTURES) + 3, out  # the echoed letter and both canaries
        assert sum(f"{LLM_FAILED}: llm_invalid_output: " in line for line in records) == 2, out
        assert (session.root / "out" / out / "errors.jsonl").read_text() == "", out
    records = (session.root / "out" / "llm-debug" / "records.jsonl").read_text().splitlines()
    assert len(records) == len(FIXTURES) + 1  # and the canary
    errors = (session.root / "out" / "llm-debug" / "errors.jsonl").read_text().splitlines()
    assert len(errors) == 2  # the echoed letter and the echoed canary: no rules record to keep
    assert all('"type": "llm_invalid_output"' in error for error in errors)
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


def test_the_canaries_were_sent_and_quoted(session: Session) -> None:
    """The markers did go where they should: their absence elsewhere means something."""
    for out in ("hybrid-default", "hybrid-debug"):  # the llm pass reads no rationale
        records = (session.root / "out" / out / "records.jsonl").read_text(encoding="utf-8")
        assert any(form in records for form in forms(RATIONALE_MARK)), out
    extracted = (session.root / "out" / "extract-canary" / "extract.json").read_text(encoding="utf-8")
    assert any(form in extracted for form in forms(RATIONALE_MARK))
    report = (session.root / "reports" / "replay-default.json").read_text(encoding="utf-8")
    assert "canary-echoed" in report  # scored by eval, its failure reported
    stderr = contents(session.root / "logs" / "extract-canary-echoed.stderr")
    assert f"{LLM_FAILED}: llm_invalid_output: " in stderr  # its rules record kept, and why


def test_no_canary_where_it_does_not_belong(session: Session) -> None:
    """The summary's marker nowhere; the rationale's only in records; at every level, every command."""
    files = session.files()
    assert len([path for path in files if path.suffix == ".stderr"]) == len(session.runs)
    for path in files:
        if path.name == "canary-echoed.yaml":
            continue  # a cassette keeps the model's answers, and this model echoes the letter
        text = contents(path)
        assert not [form for form in forms(SUMMARY_MARK) if form in text], path
        if path.name not in QUOTED_BY_RECORDS:
            assert not [form for form in forms(RATIONALE_MARK) if form in text], path
