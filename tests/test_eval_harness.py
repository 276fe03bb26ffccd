"""``extractor eval`` in-process on the real fixtures: report, --min-accuracy, --baseline, cassettes."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from evals import cassettes
from evals.fixtures import FIXTURES_DIR, check_set
from evals.harness import BACKENDS, BackendRun, build_report, confusion_report, print_summary
from evals.scoring import FieldCount, LetterScore
from extractor import cli
from extractor.llm.prompting import plan
from extractor.reading import read_path
from support.fake_openai import FakeOpenAI, Step, completion, invalid_against_schema, served, status
from tests.documents import shared_root

RULES_FIELDS_MIN = 0.95


def run_eval(*args: str) -> int:
    """``extractor eval ARGS`` in-process, through the real CLI."""
    return cli.main(["eval", *args])


@pytest.fixture(scope="module")
def documents() -> Path:
    return shared_root()


@pytest.fixture(scope="module")
def rules_report(documents: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reports") / "rules.json"
    assert run_eval("--backend", "rules", "--documents", str(documents), "--report", str(path)) == 0
    return path


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_rules_get_the_rules_fields_right(rules_report: Path) -> None:
    report = load(rules_report)["backends"]["rules"]
    assert report["fixtures"] >= 40
    assert report["overall"]["accuracy"] >= RULES_FIELDS_MIN
    assert report["not_scored"] == []  # the rules pass reads every labelled field
    fields = ("patient.diagnoses", "case.case_number", "case.decision_date", "items", "items[].decision")
    for name in (*fields, "items[].category"):
        assert report["fields"][name]["accuracy"] >= RULES_FIELDS_MIN, name
    assert report["fields"]["items"]["precision"] >= RULES_FIELDS_MIN
    assert report["errors"] == {}
    assert report["model"] is None
    assert report["prompt_version"] is None
    assert report["timestamp"]


def test_the_report_scores_the_check_set_apart_from_the_letters_tuned_on(rules_report: Path) -> None:
    report = load(rules_report)["backends"]["rules"]
    checked, dev = report["check_set"], report["dev"]
    assert set(checked["ids"]) == check_set()
    assert checked["fixtures"] + dev["fixtures"] == report["fixtures"]
    for key in ("right", "total"):
        assert checked["overall"][key] + dev["overall"][key] == report["overall"][key]
        for name, count in report["guideline_citations"].items():
            assert (
                checked["guideline_citations"][name][key] + dev["guideline_citations"][name][key]
                == count[key]
            )


def test_the_check_set_line_says_what_the_letters_kept_aside_scored() -> None:
    cited = "items[].reviewer_guidelines"
    letters = [
        LetterScore("tuned", {"case.case_number": FieldCount(1, 1)}, citations={cited: FieldCount(2, 2, 2)}),
        LetterScore("kept", {"case.case_number": FieldCount(0, 1)}, citations={cited: FieldCount(1, 2, 1)}),
    ]
    runs = {"llm": BackendRun("llm", letters)}
    report = build_report(runs, frozenset({"kept"}))["backends"]["llm"]
    assert report["check_set"]["ids"] == ["kept"]
    assert (report["check_set"]["overall"]["right"], report["dev"]["overall"]["right"]) == (0, 1)
    assert "check_set" not in build_report(runs, frozenset({"absent"}))["backends"]["llm"]
    console = Console(width=200, record=True, file=io.StringIO())
    print_summary(console, runs, held_out=frozenset({"kept"}))
    assert (
        "llm: check set (1 letter kept aside) overall 0.0% (0/1), citations (source and pages) "
        "reviewer 50.0% (1/2); the other 1 letter overall 100.0% (1/1), citations (source and pages) "
        "reviewer 100.0% (2/2)"
    ) in console.export_text().replace("\n", "")


def test_min_accuracy(documents: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_eval("--documents", str(documents), "--min-accuracy", "1.01") == 1
    assert "rules overall accuracy" in capsys.readouterr().out
    assert run_eval("--documents", str(documents), "--min-accuracy", "0.5", "--only", "CM16-0213037") == 0


def test_baseline(
    documents: Path, rules_report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_eval("--documents", str(documents), "--baseline", str(rules_report)) == 0
    better = load(rules_report)
    better["backends"]["rules"]["fields"]["case.priority"]["accuracy"] += 0.01
    doctored = tmp_path / "better.json"
    doctored.write_text(json.dumps(better))
    capsys.readouterr()
    assert run_eval("--documents", str(documents), "--baseline", str(doctored)) == 1
    out = capsys.readouterr().out
    assert "rules case.priority accuracy" in out
    assert "case.decision_date" not in out.split("worse than the baseline")[-1]


def test_a_worse_label_set_fails_against_the_real_baseline(
    documents: Path, rules_report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A change that makes one field wrong on one letter is caught, and the letter is listed."""
    fixtures = FIXTURES_DIR
    (tmp_path / "synthetic").symlink_to(fixtures / "synthetic")
    for source in fixtures.glob("*.json"):
        (tmp_path / source.name).write_text(source.read_text())
    label = json.loads((fixtures / "CM16-0213037.json").read_text())
    label["determination"]["items"][1]["decision"] = "Overturned"
    (tmp_path / "CM16-0213037.json").write_text(json.dumps(label))
    code = run_eval(
        "--documents", str(documents), "--fixtures", str(tmp_path), "--baseline", str(rules_report)
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "rules items[].decision accuracy" in out
    assert "items[1].decision: expected Overturned got Upheld" in out


def test_missing_documents_root_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_eval("--documents", str(tmp_path / "nowhere")) == 2
    err = capsys.readouterr().err
    assert "../shared" in err
    assert "--documents" in err


def no_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No endpoint, key or model from the environment: replay alone decides."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "EXTRACTOR_MODEL"):
        monkeypatch.delenv(name, raising=False)


def test_usage_errors(documents: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_eval("--documents", str(documents), "--backend", "rules,magic") == 2
    assert run_eval("--documents", str(documents), "--only", "CM00-0000000") == 2
    assert "CM00-0000000" in capsys.readouterr().err


def test_llm_without_cassette_says_how_to_record(
    documents: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_llm_env(monkeypatch)
    report = tmp_path / "report.json"
    code = run_eval(
        "--backend",
        "rules,hybrid",
        "--documents",
        str(documents),
        "--cassettes",
        str(tmp_path),
        "--only",
        "many-items",
        "--report",
        str(report),
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "no cassette for many-items (model qwen2.5-coder-1.5b-instruct, prompt_version" in out
    assert "--record" in out
    data = load(report)["backends"]
    assert data["rules"]["overall"]["accuracy"] == 1.0
    assert data["hybrid"]["errors"]["many-items"].startswith("missing_cassette: no cassette for many-items")
    assert data["hybrid"]["overall"]["right"] == 0


def test_a_damaged_cassette_fails_the_eval_naming_the_file(
    documents: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_llm_env(monkeypatch)
    damaged = tmp_path / "qwen2.5-coder-1.5b-instruct" / "many-items.yaml"
    damaged.parent.mkdir()
    damaged.write_text("interactions:\n- request: {unclosed: [\n")
    code = replay_many_items(documents, tmp_path)
    out = capsys.readouterr().out
    assert code == 1
    assert f"damaged_cassette: damaged cassette {damaged} (not a cassette: " in " ".join(out.split())
    assert "Traceback" not in out
    assert "had no cassette (or a damaged one)" in out


def test_llm_request_not_in_cassette_is_missing_cassette(
    documents: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cassette that holds another request: the client's connection error becomes the clear line."""
    no_llm_env(monkeypatch)
    folder = tmp_path / "qwen2.5-coder-1.5b-instruct"
    folder.mkdir()
    (folder / "many-items.yaml").write_text(
        json.dumps(
            {
                "interactions": [
                    {
                        "request": {
                            "body": json.dumps({"sha256": "0" * 64}),
                            "headers": {},
                            "method": "POST",
                            "uri": "https://api.openai.com/v1/chat/completions",
                        },
                        "response": {
                            "body": {"string": "{}"},
                            "headers": {"content-type": ["application/json"]},
                            "status": {"code": 200, "message": "OK"},
                        },
                    }
                ],
                "version": 1,
            }
        )
    )
    code = replay_many_items(documents, tmp_path)
    out = capsys.readouterr().out
    assert code == 1
    assert "no cassette for many-items" in out
    assert "a request is not in the cassette" in out


def test_record_then_replay_llm_and_hybrid_offline(
    documents: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--record against a local OpenAI-compatible server, then the same scores with it stopped."""
    no_llm_env(monkeypatch)
    fixture = "CM16-0213037"
    label = load(FIXTURES_DIR / f"{fixture}.json")["determination"]
    # every request answered with a tool call filling its part of the label's determination
    server = FakeOpenAI(default=completion(served(label), usage=(900, 300))).start()
    common = [
        "--backend",
        "llm,hybrid",
        "--documents",
        str(documents),
        "--cassettes",
        str(tmp_path),
        "--only",
    ]
    try:
        recorded = tmp_path / "recorded.json"
        args = [*common, fixture, "--base-url", server.base_url, "--record", "--report", str(recorded)]
        assert run_eval(*args) == 0
    finally:
        server.stop()
    letter = read_path(documents / "letters" / f"{fixture}.pdf").text
    assert len(server.requests) == len(plan(letter))  # hybrid asks a subset: llm's cassette replays it
    cassette = cassettes.cassette_path(fixture, "qwen2.5-coder-1.5b-instruct", tmp_path)
    text = cassette.read_text()
    narrative = [line.strip() for line in letter.splitlines() if len(line.strip()) > 60]
    assert len(narrative) > 10
    assert not [line for line in narrative if line in text]  # the letter went as a digest only
    assert "prompt_version" in text
    assert "mode: tools" in text
    replayed = tmp_path / "replayed.json"
    assert run_eval(*common, fixture, "--report", str(replayed), "--baseline", str(recorded)) == 0
    before, after = load(recorded)["backends"], load(replayed)["backends"]
    # the server answered with the label itself; the llm pass's patient regions are those its
    # diagnoses name, and this letter's summary also complains of the back (evals/LABELLING.md)
    overall, regions = after["llm"]["overall"], after["llm"]["fields"]["patient.body_regions"]
    assert (overall["total"] - overall["right"], regions["right"], regions["total"]) == (1, 0, 1)
    for backend in ("llm", "hybrid"):
        assert after[backend]["fields"] == before[backend]["fields"]
        assert after[backend]["prompt_version"] == before[backend]["prompt_version"] is not None
        assert after[backend]["model"] == "qwen2.5-coder-1.5b-instruct"
    assert "gave no record" not in capsys.readouterr().out


def test_re_recording_keeps_the_answers_still_asked_and_drops_the_stale_ones(
    documents: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a prompt change, ``--record`` asks only what is new and saves only what this run
    used (it always runs the llm backend, which sends every request of the letter)."""
    no_llm_env(monkeypatch)
    fixture = "CM16-0213037"
    label = load(FIXTURES_DIR / f"{fixture}.json")["determination"]
    server = FakeOpenAI(default=completion(served(label))).start()
    common = ["--documents", str(documents), "--cassettes", str(tmp_path), "--only", fixture]
    record = [*common, "--base-url", server.base_url, "--record"]
    cassette = cassettes.cassette_path(fixture, "qwen2.5-coder-1.5b-instruct", tmp_path)

    def with_a_stale_answer() -> int:
        data = yaml.safe_load(cassette.read_text())
        stale = json.loads(json.dumps(data["interactions"][0]))
        stale["request"]["body"] = json.dumps({"sha256": "0" * 64})
        data["interactions"].append(stale)
        cassette.write_text(yaml.safe_dump(data))
        return len(data["interactions"])

    try:
        assert run_eval("--backend", "llm,hybrid", *record) == 0
        asked = len(server.requests)
        count = with_a_stale_answer()
        assert run_eval("--backend", "hybrid", *record) == 0
    finally:
        server.stop()
    assert len(server.requests) == asked  # nothing asked twice
    assert len(yaml.safe_load(cassette.read_text())["interactions"]) == count - 1
    assert run_eval("--backend", "llm,hybrid", *common) == 0  # and it still replays


def record_hybrid(documents: Path, tmp_path: Path, fixture: str, answer: Step) -> tuple[int, dict[str, Any]]:
    """``extractor eval --backend hybrid --record`` of one fixture against a fake server that
    answers every request with ``answer``: the exit status and the report's backends."""
    server = FakeOpenAI(default=answer).start()
    report = tmp_path / "report.json"
    args = [
        "--backend",
        "hybrid",
        "--llm-scope",
        "all",
        "--documents",
        str(documents),
        "--cassettes",
        str(tmp_path),
    ]
    try:
        code = run_eval(
            *args, "--only", fixture, "--base-url", server.base_url, "--record", "--report", str(report)
        )
    finally:
        server.stop()
    return code, load(report)["backends"]


def test_the_report_counts_the_review_a_backend_costs_and_the_disagreements_behind_it(
    documents: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model that contradicts the letter's first decision makes one disagreement, on that field,
    and a record that needs review; the rules record alone has no disagreement to count."""
    no_llm_env(monkeypatch)
    fixture = "CM16-0219557"  # one the rules pass reads as labelled
    label = load(FIXTURES_DIR / f"{fixture}.json")["determination"]
    first = label["items"][0]
    first["decision"] = {"Upheld": "Overturned", "Overturned": "Upheld"}[first["decision"]]
    _, runs = record_hybrid(documents, tmp_path, fixture, completion(served(label)))
    review = runs["hybrid"]["review"]
    assert (review["needs_review"], review["records"], review["disagreements"]) == (
        1,
        1,
        {"items[].decision": 1},
    )
    assert review["requests"] == runs["llm"]["review"]["requests"] - 1  # the rules read the header
    assert runs["rules"]["review"]["disagreements"] == {}
    out = " ".join(capsys.readouterr().out.split())
    requests = review["requests"]
    line = f"hybrid: 1 of 1 records need review ({requests} LLM requests); 1 cross-check disagreement(s)"
    assert f"{line}: items[].decision 1" in out


def test_hybrid_whose_llm_pass_fails_is_scored_as_its_rules_record_and_listed(
    documents: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The eval scores the record a user gets: hybrid keeps the rules record when every answer
    fails validation, and the report names the letter and the failure instead of hiding it."""
    no_llm_env(monkeypatch)
    fixture = "CM16-0213037"
    code, runs = record_hybrid(documents, tmp_path, fixture, invalid_against_schema())
    assert code == 0
    assert runs["llm"]["errors"][fixture].startswith("llm_invalid_output")
    assert runs["hybrid"]["errors"] == {}
    assert runs["hybrid"]["llm_failed"][fixture].startswith("LLM pass failed: llm_invalid_output")
    assert runs["hybrid"]["fields"] == runs["rules"]["fields"]
    out = " ".join(capsys.readouterr().out.split())
    assert (
        f"hybrid: 1 letter(s) kept their rules record: {fixture}: LLM pass failed: llm_invalid_output" in out
    )


def test_recording_against_an_endpoint_answering_401_fails_and_keeps_the_cassette(
    documents: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--record=all`` replaced a good cassette with an empty one and exited 0: now the run
    fails in one line saying why, and the cassette is byte for byte what it was."""
    no_llm_env(monkeypatch)
    fixture = "CM16-0213037"
    model = "qwen2.5-coder-1.5b-instruct"
    cassette = cassettes.cassette_path(fixture, model, tmp_path)
    cassette.parent.mkdir(parents=True)
    shutil.copyfile(cassettes.cassette_path(fixture, model), cassette)
    committed = cassette.read_bytes()
    common = ["--backend", "hybrid", "--documents", str(documents), "--cassettes", str(tmp_path)]
    with FakeOpenAI(default=status(401)) as refusing:
        code = run_eval(*common, "--only", fixture, "--base-url", refusing.base_url, "--record=all")
    assert refusing.count() > 0
    assert code == 1
    assert cassette.read_bytes() == committed
    assert sorted(cassette.parent.iterdir()) == [cassette]  # no draft left beside it
    failed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1
    assert failed[0].startswith(f"FAIL 1 cassette(s) not recorded, kept as they were; first {fixture}: ")
    assert failed[0].endswith("refused the request (HTTP 401)")
    assert run_eval(*common, "--only", fixture) == 0  # and it replays as before


def test_hybrid_is_scored_beside_its_passes_and_judged_alone(
    documents: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--backend hybrid`` replays the committed cassette and shows rules and llm beside hybrid;
    ``--min-accuracy`` and ``--baseline`` judge hybrid only."""
    no_llm_env(monkeypatch)
    common = ["--backend", "hybrid", "--documents", str(documents), "--only", "CM17-0013716"]
    report = tmp_path / "hybrid.json"
    assert run_eval(*common, "--report", str(report)) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("┃"))  # the backends' row
    assert [cell.strip() for cell in header.split("┃") if cell.strip()] == ["rules"] * 4 + ["llm"] * 4 + [
        "hybrid"
    ] * 4
    runs = load(report)["backends"]
    assert list(runs) == ["rules", "llm", "hybrid"]
    llm, hybrid = runs["llm"]["overall"]["accuracy"], runs["hybrid"]["overall"]["accuracy"]
    assert llm < hybrid  # the small model misses what the cross-check recovers
    assert run_eval(*common, "--min-accuracy", str((llm + hybrid) / 2)) == 0
    assert run_eval(*common, "--min-accuracy", str(hybrid + 0.01)) == 1
    assert "hybrid overall accuracy" in capsys.readouterr().out
    baseline = load(report)
    baseline["backends"]["llm"]["fields"]["items[].decision"]["accuracy"] = 2.0  # a component: not judged
    lowered = tmp_path / "baseline.json"
    lowered.write_text(json.dumps(baseline))
    assert run_eval(*common, "--baseline", str(lowered)) == 0
    baseline["backends"]["hybrid"]["fields"]["items[].decision"]["accuracy"] = 2.0
    lowered.write_text(json.dumps(baseline))
    assert run_eval(*common, "--baseline", str(lowered)) == 1
    assert "hybrid items[].decision accuracy" in capsys.readouterr().out


def replay_many_items(documents: Path, cassettes: Path) -> int:
    """``extractor eval --backend llm`` of the synthetic many-items letter, from ``cassettes``."""
    return run_eval(
        "--backend",
        "llm",
        "--documents",
        str(documents),
        "--cassettes",
        str(cassettes),
        "--only",
        "many-items",
    )


def test_the_scores_never_lose_a_figure_on_a_narrow_terminal() -> None:
    """At 100 columns each backend gets its own table, whole; at 160 they stand side by side."""
    counts = {
        "case.case_number": FieldCount(63, 63),
        "items[].claims_administrator_guidelines": FieldCount(63, 63, 63),
    }
    runs = {name: BackendRun(backend=name, letters=[LetterScore("x", dict(counts))]) for name in BACKENDS}
    for width, tables in ((100, 3), (160, 1)):
        console = Console(width=width, record=True, file=io.StringIO())
        print_summary(console, runs)
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= width
        assert text.count("Eval: right / labelled per field") == tables
        assert text.count("100.0%") == 12  # per backend: acc of both fields, prec of the list one, overall
        assert "items[].claims_administrator_guidelines" in text.replace("\n", "").replace("│", "")


def test_the_report_and_the_screen_carry_a_category_confusion_table() -> None:
    pairs = [("imaging", "imaging"), ("medication", "other"), ("medication", "medication")]
    run = BackendRun(backend="rules", letters=[LetterScore("x", categories=pairs)])
    assert confusion_report(run.confusion) == {
        "imaging": {"imaging": 1},
        "medication": {"medication": 1, "other": 1},
    }
    console = Console(width=160, record=True, file=io.StringIO())
    print_summary(console, {"rules": run})
    assert "item category, labelled (rows) by predicted (2/3 right)" in console.export_text()
