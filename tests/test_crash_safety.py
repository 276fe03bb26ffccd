"""Crash safety: ``extractor batch`` killed with SIGKILL at random moments, then resumed.

Over 200 inputs (the sample letters and seeds, copied four times: two copies differ from the
originals by path only, two by content too; plus files that fail), the batch is started as a
subprocess and killed (SIGKILL to its process group, workers included) at least five times:
some kills after a random delay (while it starts, reads the ledger, or works), some once a
random number of further lines are written (mid-run, whatever the machine's speed).  Then it is
run to completion.  Every input must be in records.jsonl or errors.jsonl exactly once, with its
file's sha256; no line may be torn; summary.json must agree with the files; and the records
must be those of an uninterrupted run.

The RNG seed is printed (shown when the test fails); ``CRASH_SEED=N`` replays a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.documents import shared_root

KILLS = 6
MIN_INPUTS = 200


def seed() -> int:
    configured = os.environ.get("CRASH_SEED")
    return int(configured) if configured else random.SystemRandom().randrange(2**32)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = shared_root()
    originals = sorted((root / "letters").glob("*.pdf")) + sorted((root / "seeds").glob("*.txt"))
    if len(originals) < 50:
        pytest.fail(f"the sample letters are missing from {root}", pytrace=False)
    folder = tmp_path_factory.mktemp("crash") / "in"
    for copy in range(4):
        target = folder / f"copy{copy}"
        target.mkdir(parents=True)
        for original in originals:
            data = original.read_bytes()
            if copy >= 2:  # other content too: a PDF reads the same with bytes after %%EOF
                data += f"\n% copy {copy}\n".encode() if original.suffix == ".pdf" else b"\n"
            (target / original.name).write_bytes(data)
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "random.pdf").write_bytes(random.Random(1).randbytes(2048))
    (folder / "shopping.txt").write_text("milk\neggs\n")
    (folder / "blank.txt").write_text("\n\n")
    return folder


def inputs(inbox: Path) -> dict[str, str]:
    """Every input path and its content's sha256."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(inbox.rglob("*"))
        if path.is_file()
    }


def start(inbox: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    command = [sys.executable, "-m", "extractor", "batch", str(inbox), "--out", str(out),
               "--backend", "rules", "--workers", "2", "--quiet"]  # fmt: skip
    # Its own process group, so the kill takes the workers too, as a crash of the machine would.
    return subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.PIPE)


def written(out: Path) -> int:
    """Whole lines in records.jsonl and errors.jsonl now."""
    total = 0
    for name in ("records.jsonl", "errors.jsonl"):
        with contextlib.suppress(FileNotFoundError):
            total += (out / name).read_bytes().count(b"\n")
    return total


@dataclass
class Crashes:
    """What the kills hit."""

    kills: list[str] = field(default_factory=list)
    torn_tails: int = 0
    finished_early: int = 0


def kill(process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        return False
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return True


def check_after_kill(out: Path, crashes: Crashes) -> None:
    """Only the last line of a file may be torn (the next run cuts it); every whole line parses."""
    for name in ("records.jsonl", "errors.jsonl"):
        path = out / name
        if not path.exists():
            continue
        data = path.read_bytes()
        *whole, tail = data.split(b"\n")
        for line in whole:
            json.loads(line)
        if tail:
            crashes.torn_tails += 1


def crash_repeatedly(inbox: Path, out: Path, chance: random.Random, total: int) -> Crashes:
    crashes = Crashes()
    for _ in range(4 * KILLS):
        if len(crashes.kills) >= KILLS:
            break
        done = written(out)
        process = start(inbox, out)
        if chance.random() < 0.4:  # after a random delay: starting, reading the ledger, or working
            moment = chance.uniform(0.0, 1.5)
            time.sleep(moment)
            what = f"after {moment:.2f} s"
        else:  # once a random number of further lines is written: mid-run, on any machine
            target = done + chance.randint(1, max(1, (total - done) * 2 // 5))
            deadline = time.monotonic() + 60
            while written(out) < target and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            what = f"at line {written(out)} (aimed at {target})"
        if kill(process):
            crashes.kills.append(what)
            check_after_kill(out, crashes)
        else:
            crashes.finished_early += 1
            shutil.rmtree(out)  # it finished: start over, so the kills still land mid-run
    return crashes


def lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes() if path.exists() else b""
    assert not data or data.endswith(b"\n"), f"{path.name} ends in a torn line"
    return [json.loads(line) for line in data.splitlines()]


def comparable(entry: dict[str, Any]) -> dict[str, Any]:
    """A record or error line without what differs between runs (timings)."""
    entry = json.loads(json.dumps(entry))
    entry.get("provenance", {}).pop("seconds", None)
    return entry


def test_kill_9_at_random_moments_then_resume(inbox: Path, tmp_path: Path) -> None:
    run_seed = seed()
    print(f"crash seed {run_seed} (CRASH_SEED={run_seed} replays it)")
    expected = inputs(inbox)
    assert len(expected) >= MIN_INPUTS
    out = tmp_path / "out"

    crashes = crash_repeatedly(inbox, out, random.Random(run_seed), len(expected))
    assert len(crashes.kills) >= 5, (run_seed, crashes)
    print(
        f"killed {len(crashes.kills)} times: {'; '.join(crashes.kills)}; torn tails {crashes.torn_tails}; "
        f"runs that finished before their kill (restarted afresh): {crashes.finished_early}"
    )

    before = written(out)
    finished = start(inbox, out)
    _, stderr = finished.communicate(timeout=120)
    assert finished.returncode == 2, (run_seed, stderr.decode())  # empty.pdf gives no record

    records, errors = lines(out / "records.jsonl"), lines(out / "errors.jsonl")
    seen = Counter(entry["document"]["path"] for entry in records + errors)
    duplicated = [path for path, count in seen.items() if count > 1]
    assert not duplicated, (run_seed, duplicated)
    assert set(seen) == set(expected), (run_seed, set(expected) ^ set(seen))
    for entry in records + errors:
        assert entry["document"]["sha256"] == expected[entry["document"]["path"]], run_seed
    assert {Path(e["document"]["path"]).name for e in errors} == {
        "empty.pdf", "random.pdf", "shopping.txt", "blank.txt"
    }  # fmt: skip

    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"] == len(expected)
    assert (summary["records"], summary["errors"]) == (len(records), len(errors))
    assert summary["records"] + summary["errors"] == summary["inputs"]
    status = summary["status"]
    assert status["skipped"] == before  # every whole line written before the kills counts, once
    assert status["done"] + status["failed"] + status["skipped"] == len(expected)
    assert summary["items"] == sum(len(r["determination"]["items"]) for r in records)
    assert summary["upheld"] + summary["overturned"] == summary["items"]
    assert summary["needs_review"] == sum(bool(r["needs_review"]) for r in records)
    assert sum(summary["errors_by_type"].values()) == len(errors)

    # the same records as a run never interrupted
    clean = tmp_path / "clean"
    uninterrupted = start(inbox, clean)
    _, stderr = uninterrupted.communicate(timeout=120)
    assert uninterrupted.returncode == 2, stderr.decode()
    reference = lines(clean / "records.jsonl") + lines(clean / "errors.jsonl")
    by_path = {e["document"]["path"]: comparable(e) for e in reference}
    assert {e["document"]["path"]: comparable(e) for e in records + errors} == by_path, run_seed
