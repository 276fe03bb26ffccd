"""kill -9 at any moment, then rerun: every input exactly once in records.jsonl ∪ errors.jsonl."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.documents import shared_root

COPIES = 2
SEEDS = (11, 12, 13)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About a hundred inputs: the sample letters twice over, and a few that fail."""
    letters = sorted((shared_root() / "letters").glob("*.pdf"))[:48]
    if len(letters) < 48:
        pytest.fail(f"the sample letters are missing from {shared_root() / 'letters'}", pytrace=False)
    folder = tmp_path_factory.mktemp("kill") / "in"
    for copy in range(COPIES):
        (folder / f"copy{copy}").mkdir(parents=True)
        for letter in letters:
            shutil.copyfile(letter, folder / f"copy{copy}" / letter.name)
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "random.pdf").write_bytes(random.Random(1).randbytes(2048))
    (folder / "shopping.txt").write_text("milk\neggs\n")
    (folder / "blank.txt").write_text("\n\n")
    return folder


def start(inbox: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    command = [sys.executable, "-m", "extractor", "batch", str(inbox), "--out", str(out)]
    options = ["--backend", "rules", "--workers", "2", "--quiet"]
    # Its own process group, so the kill takes the workers too, as a crash of the machine would.
    return subprocess.Popen([*command, *options], env=env, start_new_session=True, stderr=subprocess.PIPE)


def kill_after(process: subprocess.Popen[bytes], seconds: float) -> None:
    time.sleep(seconds)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def entries(out: Path) -> list[dict[str, Any]]:
    found = []
    for name in ("records.jsonl", "errors.jsonl"):
        path = out / name
        if path.exists():
            found += [json.loads(line) for line in path.read_text().splitlines()]
    return found


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_then_rerun_leaves_every_input_exactly_once(inbox: Path, tmp_path: Path, seed: int) -> None:
    inputs = sorted(str(p) for p in inbox.rglob("*") if p.is_file())
    out = tmp_path / "out"
    chance = random.Random(seed)
    for _ in range(2):  # two kills, at random moments: starting, mid-run, or finishing
        kill_after(start(inbox, out), chance.uniform(0.3, 1.6))

    finished = start(inbox, out)
    _, stderr = finished.communicate(timeout=120)
    assert finished.returncode == 0, stderr.decode()

    lines = (out / "records.jsonl").read_bytes() + (out / "errors.jsonl").read_bytes()
    assert lines.endswith(b"\n")
    seen = Counter(str(entry["document"]["path"]) for entry in entries(out))
    assert sorted(seen) == inputs
    assert set(seen.values()) == {1}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records"] + summary["errors"] == len(inputs) == summary["inputs"]
