"""The committed eval reports (evals/reports/*.json) are what a fresh offline replay scores.

The figures in them are quoted in the README and used as ``--baseline``; they come from a run
of the code at the time, so this replays every backend from the committed cassettes and
compares, field by field, right and total (timestamps and timings aside).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.fixtures import REPO_ROOT
from extractor import cli
from tests.documents import shared_root

REPORTS = sorted((REPO_ROOT / "evals" / "reports").glob("*.json"))


def figures(backend: dict[str, Any]) -> dict[str, Any]:
    """What a report says of one backend's accuracy, without when or how fast."""
    return {
        "fixtures": backend["fixtures"],
        "prompt_version": backend["prompt_version"],
        "overall": (backend["overall"]["right"], backend["overall"]["total"]),
        "fields": {name: (count["right"], count["total"]) for name, count in backend["fields"].items()},
        "not_scored": backend["not_scored"],
        "errors": backend["errors"],
    }


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    report = tmp_path_factory.mktemp("replayed") / "report.json"
    command = [
        "eval",
        "--backend",
        "rules,llm,hybrid",
        "--documents",
        str(shared_root()),
        "--report",
        str(report),
    ]
    assert cli.main(command) == 0
    backends: dict[str, Any] = json.loads(report.read_text())["backends"]
    return backends


def test_every_backend_has_a_committed_report() -> None:
    assert [path.stem for path in REPORTS] == ["hybrid", "llm", "rules"]


@pytest.mark.parametrize("report", REPORTS, ids=[path.stem for path in REPORTS])
def test_a_committed_report_has_the_figures_of_a_fresh_replay(report: Path, replayed: dict[str, Any]) -> None:
    committed = json.loads(report.read_text())["backends"]
    assert report.stem in committed
    for name, backend in committed.items():
        assert figures(backend) == figures(replayed[name]), f"{report.name}: {name} differs from a replay"
