"""The hard paths of a crash, made to happen rather than hoped for.

A kill that lands inside a ledger write (tests/stalling_ledger.py stalls the write half-way, so the
torn line is certain), one worker killed mid-run, for the rules and the hybrid backends; and
the ledger's fsync counted per sync interval, since kill -9 cannot tell a synced line from one
only in the page cache.  Killing the batch process alone is tests/test_batch_resilience.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor.jobs import ledger
from extractor.jobs.ledger import JsonLines
from support.fake_openai import FakeOpenAI, perfect
from tests.labelled import SYNTHETIC, labelled

SECONDS = 120
STALLING = "tests.stalling_ledger"
WHOLE = 3
"""Lines written whole before the torn one."""


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """The synthetic letters, each under three names with different content: 24 inputs."""
    folder = tmp_path / "in"
    folder.mkdir()
    for stem in SYNTHETIC:
        letter = labelled(stem).document
        for copy in range(3):
            (folder / f"{copy}-{letter.name}").write_bytes(letter.read_bytes() + b"\n" * copy)
    return folder


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The environment a batch of ``request.param`` (a backend) runs with: hybrid gets a fake model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EXTRACTOR_"))}
    if request.param == "rules":
        yield env
        return
    with FakeOpenAI(default=perfect, latency=0.05) as fake:
        yield {**env, "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "sk-test-crash"}


def batch(inbox: Path, out: Path, backend: str) -> list[str]:
    return ["batch", str(inbox), "--out", str(out), "--backend", backend, "--workers", "2", "-q"]


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def finish(process: subprocess.Popen[bytes]) -> None:
    try:
        _, stderr = process.communicate(timeout=SECONDS)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, stderr.decode(errors="replace")


def wait_for(condition: Any, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SECONDS
    while not condition():
        assert process.poll() is None, "the batch ended before it could be killed"
        assert time.monotonic() < deadline, "the batch never got there"
        time.sleep(0.02)


def ledger_bytes(out: Path) -> dict[str, bytes]:
    return {
        name: (out / name).read_bytes() for name in ("records.jsonl", "errors.jsonl") if (out / name).exists()
    }


def assert_done_once(out: Path, inbox: Path) -> None:
    """Every input has one record (these letters all read), every line whole, summary agreeing."""
    files = ledger_bytes(out)
    assert all(data.endswith(b"\n") for data in files.values() if data)
    assert files.get("errors.jsonl", b"") == b""
    records = [json.loads(line) for line in files["records.jsonl"].splitlines()]
    seen = Counter(Path(record["document"]["path"]).name for record in records)
    assert seen == Counter(path.name for path in inbox.iterdir())
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["inputs"], summary["records"], summary["errors"]) == (len(seen), len(seen), 0)


@pytest.mark.parametrize("endpoint", ["rules", "hybrid"], indirect=True)
def test_a_kill_inside_a_write_tears_a_line_that_resume_cuts(
    inbox: Path, tmp_path: Path, endpoint: dict[str, str]
) -> None:
    backend = "rules" if "OPENAI_BASE_URL" not in endpoint else "hybrid"
    out, stalled = tmp_path / "out", tmp_path / "stalled"
    process = start(
        [sys.executable, "-m", STALLING, "tear", str(WHOLE), str(stalled), "--", *batch(inbox, out, backend)],
        endpoint,
    )
    wait_for(stalled.exists, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    torn = [data for data in ledger_bytes(out).values() if data and not data.endswith(b"\n")]
    assert len(torn) == 1, "the kill did not land inside a write"
    assert sum(data.count(b"\n") for data in ledger_bytes(out).values()) == WHOLE
    finish(start([sys.executable, "-m", "extractor", *batch(inbox, out, backend)], endpoint))
    assert_done_once(out, inbox)


def workers_of(pid: int) -> list[int]:
    """The batch's worker processes: its children running its own command line (forked)."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
            if int(parent) == pid and state not in "ZX" and (stat.parent / "cmdline").read_bytes() == command:
                found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("endpoint", ["rules", "hybrid"], indirect=True)
def test_one_worker_killed_mid_run_and_every_letter_still_gets_its_record(
    inbox: Path, tmp_path: Path, endpoint: dict[str, str]
) -> None:
    backend = "rules" if "OPENAI_BASE_URL" not in endpoint else "hybrid"
    out, stalled = tmp_path / "out", tmp_path / "stalled"
    # the writer paused after one line, so the kill is surely mid-run
    process = start(
        [sys.executable, "-m", STALLING, "pause", "1", str(stalled), "--", *batch(inbox, out, backend)],
        endpoint,
    )
    wait_for(stalled.exists, process)
    (worker, *_) = workers_of(process.pid)
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: worker not in workers_of(process.pid), process)
    stalled.unlink()
    finish(process)
    assert_done_once(out, inbox)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("interval", [1.0, 0.0])
def test_the_ledger_fsyncs_its_file_once_per_sync_interval(
    interval: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, synced = _Clock(), []
    real_fsync = os.fsync
    monkeypatch.setattr(ledger.time, "monotonic", clock)

    def counted(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(ledger.os, "fsync", counted)
    lines = JsonLines(tmp_path / "records.jsonl", sync_interval=interval)
    for second in range(3):  # ten lines in each of three intervals
        for tenth in range(10):
            clock.now = second + tenth / 10
            lines.append(json.dumps({"document": {"path": f"{second}-{tenth}"}}))
    inode = (tmp_path / "records.jsonl").stat().st_ino
    assert synced == [inode] * (30 if interval == 0 else 2)  # at 1.0 s and 2.0 s
    lines.close()  # what the last interval wrote is synced on close, and only once
    lines.close()
    assert synced == [inode] * (30 if interval == 0 else 3)
