"""A batch whose parent alone dies or is stopped, odd file names, one file under two names, job files.

The batch runs as ``python -m extractor batch`` in its own process group, so the test can see
whether any of its workers outlive it.  Kills go to the parent only (SIGKILL or SIGTERM), as a
supervisor or ``kill $!`` sends them; Ctrl-C goes to the whole group, as a terminal sends it.
The RNG seed is printed (shown when a test fails); ``CRASH_SEED=N`` replays a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor.jobs import BatchOptions, expand, resume_command, run_batch
from extractor.jobs.inputs import identity, printable
from extractor.jobs.ledger import Ledger
from tests.documents import shared_root
from tests.test_crash_safety import written

COPIES = 2  # of the 50 sample PDFs: 100 inputs
STOPS = ["SIGKILL"] * 3 + ["SIGTERM"] * 2 + ["SIGINT"]  # to the parent alone; SIGINT to the group
SECONDS = 60  # no run of 100 letters may take longer: a hang fails instead of blocking the suite


def seed() -> int:
    configured = os.environ.get("CRASH_SEED")
    return int(configured) if configured else random.SystemRandom().randrange(2**32)


@pytest.fixture(scope="module")
def letters() -> list[Path]:
    found = sorted((shared_root() / "letters").glob("*.pdf"))
    if len(found) < 50:
        pytest.fail(f"the sample letters are missing from {shared_root()}", pytrace=False)
    return found


@pytest.fixture(scope="module")
def hundred(letters: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample PDFs twice over: the second copy differs by content too (bytes after %%EOF)."""
    folder = tmp_path_factory.mktemp("resilience") / "in"
    folder.mkdir()
    for copy in range(COPIES):
        for letter in letters:
            data = letter.read_bytes() + (f"\n% copy {copy}\n".encode() if copy else b"")
            (folder / f"{copy}-{letter.name}").write_bytes(data)
    return folder


def command(*inputs: str | Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "extractor", "batch", *map(str, inputs), "--out", str(out),
            "--backend", "rules", "--workers", "2", "-q"]  # fmt: skip


_STARTED: list[int] = []
"""The process groups of the batches started, each led by its batch process."""


@pytest.fixture(autouse=True)
def _no_batch_outlives_its_test() -> Iterator[None]:
    """A failed test must not leave workers behind (which is what they used to do)."""
    yield
    while _STARTED:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(_STARTED.pop(), signal.SIGKILL)


def start(arguments: list[str], cwd: Path | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    process = subprocess.Popen(
        arguments, cwd=cwd, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _STARTED.append(process.pid)
    return process


def run(arguments: list[str], cwd: Path | None = None) -> str:
    """Run a batch to the end; its stderr."""
    process = start(arguments, cwd)
    _, stderr = process.communicate(timeout=SECONDS)
    assert process.returncode == 0, stderr
    return stderr


def running_in_group(group: int) -> list[int]:
    """Processes of the group still running (a zombie waiting for its reaper has ended)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue
        if int(pgrp) == group and state not in "ZX":
            found.append(int(stat.parent.name))
    return found


def assert_nothing_left(group: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while (left := running_in_group(group)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes {left} outlived the batch"


def entries(out: Path) -> list[dict[str, Any]]:
    """Every whole line of records.jsonl and errors.jsonl."""
    found = []
    for name in ("records.jsonl", "errors.jsonl"):
        data = (out / name).read_bytes() if (out / name).exists() else b""
        found += [json.loads(line) for line in data.split(b"\n")[:-1]]
    return found


def assert_at_most_once(out: Path) -> Counter[str]:
    seen = Counter(entry["document"]["path"] for entry in entries(out))
    assert not [path for path, count in seen.items() if count > 1], seen.most_common(3)
    return seen


def assert_summary_matches(out: Path, inputs: int) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    lines = entries(out)
    assert summary["inputs"] == inputs
    assert summary["records"] + summary["errors"] == len(lines)
    status = summary["status"]
    assert status["skipped"] + status["done"] + status["failed"] <= inputs
    return summary


def stop_once(arguments: list[str], out: Path, stop: str, chance: random.Random) -> str | None:
    """Start the batch, stop it at a random moment; how, or None when it finished first."""
    before = written(out)
    process = start(arguments)
    if stop == "SIGKILL" and chance.random() < 0.4:  # anywhere: starting, hashing, working
        time.sleep(chance.uniform(0.0, 1.5))
    else:  # mid-run, on any machine: once it has written a line of its own
        deadline = time.monotonic() + SECONDS
        while written(out) <= before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(chance.uniform(0.0, 0.4))
    if process.poll() is not None:
        _, stderr = process.communicate()
        assert process.returncode == 0, stderr  # a resume refused ("another batch ...") fails here
        return None
    number = signal.Signals[stop]
    if stop == "SIGINT":
        os.killpg(process.pid, number)  # a terminal's Ctrl-C reaches the whole group
    else:
        os.kill(process.pid, number)  # the parent alone
    _, stderr = process.communicate(timeout=SECONDS)
    assert_nothing_left(process.pid)
    at = f"{stop} at line {written(out)} (from {before})"
    if stop == "SIGKILL":
        return at
    if written(out) == 100 and "stopped by" not in stderr:
        return None  # it had finished its work and was exiting
    assert process.returncode == 128 + number, (at, process.returncode, stderr)
    said = re.search(rf"extractor batch: stopped by {stop}: (\d+) of 100 inputs done", stderr)
    assert said, stderr
    assert f"extractor batch: to resume, run: {shlex.join(arguments)}\n" in stderr, stderr
    done = int(said.group(1))
    summary = assert_summary_matches(out, 100)
    status = summary["status"]
    assert done == status["skipped"] + status["done"] + status["failed"] == written(out), (stderr, summary)
    return at


def test_a_parent_killed_or_stopped_alone_leaves_no_worker_and_resumes(hundred: Path, tmp_path: Path) -> None:
    run_seed = seed()
    print(f"crash seed {run_seed} (CRASH_SEED={run_seed} replays it)")
    chance = random.Random(run_seed)
    out = tmp_path / "out"
    arguments = command(hundred, out=out)
    stops = chance.sample(STOPS, len(STOPS))
    done: list[str] = []
    for _ in range(3 * len(stops)):
        if not stops:
            break
        at = stop_once(arguments, out, stops[0], chance)
        if at is None:  # it finished before the stop: start over so the next one lands mid-run
            shutil.rmtree(out)
            continue
        done.append(at)
        stops.pop(0)
        assert_at_most_once(out)
    assert not stops, (run_seed, done)
    print("stopped: " + "; ".join(done))

    run(arguments)
    seen = assert_at_most_once(out)
    assert set(seen) == {str(path) for path in hundred.iterdir()}, run_seed
    summary = assert_summary_matches(out, 100)
    assert (summary["records"], summary["errors"]) == (100, 0)


def test_a_child_process_never_holds_the_jobs_lock(tmp_path: Path) -> None:
    """A worker outliving its batch (for whatever reason) must not lock the job against a resume."""
    ledger = Ledger(tmp_path / "out")
    started, running = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only says it runs, then waits to be killed
        os.write(running, b"!")
        time.sleep(30)
        os._exit(0)
    try:
        assert os.read(started, 1) == b"!"
        ledger.close()
        Ledger(tmp_path / "out").close()  # the child still lives, and the job is free
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os.close(started)
        os.close(running)


def test_a_file_name_that_is_not_utf8_is_recorded_escaped(letters: list[Path], tmp_path: Path) -> None:
    seed_letter = next((shared_root() / "seeds").glob("000_*.txt"))
    folder = tmp_path / "in"
    folder.mkdir()
    odd = os.path.join(os.fsencode(folder), b"bad\xffname.txt")
    with open(odd, "wb") as stream:
        stream.write(seed_letter.read_bytes())
    shutil.copyfile(letters[0], folder / "plain.pdf")
    listed = tmp_path / "list.txt"
    listed.write_bytes(odd + b"\n")
    out = tmp_path / "out"

    for arguments in ([folder], [folder], [f"@{listed}"]):  # a rerun and a list skip it
        run(command(*arguments, out=out))

    (record,) = (e for e in entries(out) if "bad" in Path(e["document"]["path"]).name)
    assert record["document"]["path"] == f"{folder}/bad\\xffname.txt"
    assert record["determination"]["items"]
    summary = assert_summary_matches(out, 1)  # the last run named the one file
    assert (summary["records"], summary["status"]["skipped"]) == (2, 1)
    assert printable(os.fsdecode(odd)) == record["document"]["path"]


def test_one_file_under_several_names_is_one_input(letters: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for letter in letters[:3]:
        shutil.copyfile(letter, folder / letter.name)
    (tmp_path / "link").symlink_to(folder)
    out = tmp_path / "out"

    run(command("in", out=out), cwd=tmp_path)
    for spelling in ([str(folder)], ["link"], ["in", "link", f"{folder}/../in/{letters[0].name}"]):
        run(command(*spelling, out=out), cwd=tmp_path)
        summary = assert_summary_matches(out, 3)
        assert (summary["records"], summary["status"]["skipped"]) == (3, 3), spelling
    assert sorted(e["document"]["path"] for e in entries(out)) == [f"in/{p.name}" for p in letters[:3]]


def test_one_file_named_twice_in_one_run_is_done_once(letters: list[Path], tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    shutil.copyfile(letters[0], tmp_path / "in" / "a.pdf")
    (tmp_path / "b.pdf").symlink_to(tmp_path / "in" / "a.pdf")
    paths = expand([str(tmp_path / "in"), str(tmp_path / "b.pdf")])
    assert identity(paths[0]) == identity(paths[1])

    summary = run_batch(paths, BatchOptions(out=tmp_path / "out", workers=1))
    assert (summary["inputs"], summary["records"]) == (1, 1)


def test_the_job_files_always_exist_and_stale_temporaries_go(letters: list[Path], tmp_path: Path) -> None:
    (tmp_path / "empty.pdf").write_bytes(b"")
    for name, letter in (("good", letters[0]), ("bad", tmp_path / "empty.pdf")):
        out = tmp_path / name
        out.mkdir()
        for stale in ("items.csv", "records.jsonl", "summary.json"):
            (out / f".{stale}.tmp").write_text("left by a crash\n")
        run_batch([str(letter)], BatchOptions(out=out, workers=1))
        assert {p.name for p in out.iterdir()} == {
            ".lock", "records.jsonl", "errors.jsonl", "items.csv", "summary.json"
        }  # fmt: skip
    assert (tmp_path / "good" / "errors.jsonl").read_bytes() == b""
    assert (tmp_path / "bad" / "records.jsonl").read_bytes() == b""


def test_the_resume_command_is_the_command_given() -> None:
    module = str(Path("x") / "extractor" / "__main__.py")
    assert resume_command([module, "batch", "my letters", "--out", "o"]) == (
        f"{sys.executable} -m extractor batch 'my letters' --out o"
    )
    assert resume_command(["extractor", "-v", "batch", "in", "--out", "o"]) == "extractor -v batch in --out o"
