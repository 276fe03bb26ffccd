"""The README's commands, run as a user runs them: each in a subprocess, from the checkout.

Each test names the README line it stands for and first checks that the README still says it,
so the README and what the commands do cannot drift apart unnoticed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.documents import require_letter, shared_root

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
LETTER = "../shared/letters/CM16-0213037.pdf"


def documented(line: str) -> None:
    assert line in README, f"the README no longer says: {line}"


def env() -> dict[str, str]:
    """No LLM endpoint configured, so ``auto`` is the rules backend, as on a fresh machine."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EXTRACTOR_"))}


def extractor(*args: str, stdin: bytes | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "extractor", *args],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        env=env(),
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def seeds() -> list[Path]:
    return sorted((shared_root() / "seeds").glob("*.txt"))


def test_quick_start_prints_one_record_and_says_which_backend() -> None:
    documented(f".venv/bin/extractor extract {LETTER}")
    require_letter("letters/CM16-0213037.pdf")
    run = extractor("extract", LETTER)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["document"]["id"] == "CM16-0213037"  # one object, not a list
    assert "backend auto -> rules (no LLM endpoint is configured)" in run.stderr


def test_the_python_snippet_runs() -> None:
    snippet = re.search(r"```python\n(.*?)```", README, re.S)
    assert snippet is not None
    run = subprocess.run(
        [sys.executable, "-c", snippet.group(1)], capture_output=True, text=True, env=env(), cwd=ROOT
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[0] in {"Upheld", "Overturned"}


def test_stdin_gives_the_same_record_as_the_file(seeds: list[Path]) -> None:
    documented("`-`\nfor standard input")
    from_file = extractor("extract", "-q", str(seeds[0]))
    from_stdin = extractor("extract", "-q", "-", stdin=seeds[0].read_bytes())
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_stdin.stderr == ""  # -q: no note
    record, same = json.loads(from_stdin.stdout), json.loads(from_file.stdout)
    assert record["determination"] == same["determination"]
    assert record["document"]["sha256"] == same["document"]["sha256"]


def test_output_shapes_do_not_depend_on_what_the_letters_give(seeds: list[Path], tmp_path: Path) -> None:
    documented(
        "`--format json` prints\none record object for one FILE (or `-`) and an array for anything else"
    )
    folder = extractor("extract", "-q", str(seeds[0].parent))
    assert folder.returncode == 0
    assert [r["document"]["path"] for r in json.loads(folder.stdout)] == [str(p) for p in seeds]
    missing = tmp_path / "missing.txt"
    several = extractor("extract", "-q", str(seeds[0]), str(missing))
    assert several.returncode == 2
    assert len(json.loads(several.stdout)) == 1  # still an array, of the one that gave a record
    assert f"{missing}: input_error: no such file" in several.stderr
    alone = extractor("extract", "-q", str(missing))
    assert (alone.returncode, alone.stdout) == (2, "")  # one FILE that failed: no object at all
    lines = extractor("extract", "-q", "--format", "jsonl", str(seeds[0].parent))
    assert len(lines.stdout.splitlines()) == len(seeds)
    out = tmp_path / "records.json"
    written = extractor("extract", "-q", "-o", str(out), str(seeds[0]))
    assert (written.returncode, written.stdout) == (0, "")
    assert json.loads(out.read_text())["document"]["path"] == str(seeds[0])


def test_text_takes_several_files_and_marks_them(seeds: list[Path]) -> None:
    documented("extractor text FILE... [-o OUT]")
    run = extractor("text", str(seeds[0]), str(seeds[1]))
    assert run.returncode == 0
    assert run.stdout.count("==> ") == 2
    assert extractor("text", str(seeds[0])).stdout.count("==> ") == 0


def test_schema_and_version() -> None:
    documented("extractor schema ")
    documented("extractor --version")
    schema = extractor("schema")
    assert json.loads(schema.stdout)["title"] == "Record"
    version = extractor("--version")
    assert re.fullmatch(r"extractor \S+\n", version.stdout)


def test_a_wrong_command_line_is_not_bad_input() -> None:
    documented("`64` a wrong command line")
    assert extractor("extract", "--no-such-option", LETTER).returncode == 64
    assert extractor("no-such-command").returncode == 64
    verbose = extractor("extract", "-q", "-v", LETTER)  # -v after the command too
    assert verbose.returncode == 0


def test_an_unreachable_endpoint_is_one_line_at_once(seeds: list[Path], tmp_path: Path) -> None:
    documented("cannot reach the LLM endpoint at HOST:PORT")
    url = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    run = extractor("extract", "--backend", "hybrid", "--base-url", url, str(seeds[0]))
    assert run.returncode == 2
    assert run.stderr.strip().endswith("cannot reach the LLM endpoint at 127.0.0.1:9: Connection refused")
    batch = extractor(
        "batch", str(seeds[0]), "--out", str(tmp_path / "o"), "--backend", "hybrid", "--base-url", url
    )
    assert batch.returncode == 2
    assert "nothing was started" in batch.stderr
    assert not (tmp_path / "o" / "records.jsonl").exists()


def test_batch_then_export(seeds: list[Path], tmp_path: Path) -> None:
    documented(".venv/bin/extractor batch ../shared/letters --out out/")
    documented(".venv/bin/extractor export out/records.jsonl --csv items.csv")
    out = tmp_path / "out"
    batch = extractor("batch", str(seeds[0].parent), "--out", str(out), "-q")
    assert batch.returncode == 0, batch.stderr
    assert len((out / "records.jsonl").read_text().splitlines()) == len(seeds)
    first = (out / "items.csv").read_text()
    export = extractor("export", str(out / "records.jsonl"), "--csv", str(tmp_path / "items.csv"))
    assert export.returncode == 0
    assert (tmp_path / "items.csv").read_text() == first  # the same rows, in path order
    paths = [line.split(",")[1] for line in first.splitlines()[1:]]
    assert paths == sorted(paths)
    folder = extractor("export", str(out))  # the batch's folder, as stats and review take it
    assert (folder.returncode, folder.stdout) == (0, first)


def test_the_analyst_layer_exports_a_database_and_a_report(seeds: list[Path], tmp_path: Path) -> None:
    documented(".venv/bin/extractor export out/ --to duckdb out/imr.duckdb")
    documented(".venv/bin/extractor stats out/ --html out/report.html")
    out = tmp_path / "out"
    assert extractor("batch", str(seeds[0].parent), "--out", str(out), "-q").returncode == 0
    export = extractor("export", str(out), "--to", "duckdb", str(out / "imr.duckdb"))
    assert export.returncode == 0, export.stderr
    assert f"{len(seeds)} letters" in export.stderr
    query = "avg((decision = 'Overturned')::int) rate from items group by 1"
    documented(query)
    database, select = str(out / "imr.duckdb"), f"select category, {query}"
    ask = f"import duckdb; print(duckdb.connect({database!r}).sql({select!r}))"
    answer = subprocess.run([sys.executable, "-c", ask], capture_output=True, text=True, env=env())
    assert answer.returncode == 0, answer.stderr
    assert "category" in answer.stdout
    stats = extractor("stats", str(out), "--html", str(out / "report.html"))
    assert stats.returncode == 0, stats.stderr
    assert "<svg" in (out / "report.html").read_text(encoding="utf-8")


def test_the_rules_eval_holds_its_committed_baseline() -> None:
    documented(
        ".venv/bin/extractor eval --backend rules --min-accuracy 0.99 --baseline evals/reports/rules.json"
    )
    run = extractor(
        "eval", "--backend", "rules", "--min-accuracy", "0.99", "--baseline", "evals/reports/rules.json"
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert "baseline evals/reports/rules.json: no field got worse" in run.stdout


def test_a_bare_make_lists_the_targets_and_changes_nothing() -> None:
    reports = {path: path.read_bytes() for path in (ROOT / "evals" / "reports").glob("*.json")}
    run = subprocess.run(["make"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 0
    assert "make help" in run.stdout
    assert "make record" in run.stdout
    assert {path: path.read_bytes() for path in reports} == reports


REVIEW_PAGE = ROOT / "extractor" / "review" / "static"


def test_the_review_keys_are_the_page_s() -> None:
    """Every key the README names for the review page is one the page answers and its help lists."""
    documented("`n`/`p` next/previous flagged\nvalue (every flag, whatever its status")
    documented("`Enter` saves a\nsingle-line value, `Ctrl+Enter` a list")
    keys = re.search(r"^Keys: (.*?)\n\n", README, re.S | re.M)
    assert keys is not None
    named = set(re.findall(r"`([a-z?/])`", keys.group(1)))
    assert {"j", "k", "n", "p", "y", "l", "u", "a", "e", "/", "?"} <= named
    script = (REVIEW_PAGE / "app.js").read_text(encoding="utf-8")
    actions = re.search(r"const actions = \{(.*?)\};", script, re.S)
    assert actions is not None
    answered = set(re.findall(r'(?:^|[\s,{])"?([a-z?/])"?:', actions.group(1)))
    page = (REVIEW_PAGE / "index.html").read_text(encoding="utf-8")
    assert named <= answered
    assert named <= set(re.findall(r"<kbd>([a-z?/])</kbd>", page))
    assert "Enter</kbd> saves a single-line value, <kbd>Ctrl</kbd>+<kbd>Enter</kbd> a list" in page


def _questions() -> dict[str, str]:
    """The four analyst questions' commands in the README, by the words before each."""
    part = README[README.index("### Four questions") : README.index("## Benchmarks")]
    return {
        question.strip().splitlines()[-1]: command.strip()
        for question, command in re.findall(r"(.*?)```bash\n(.*?)```", part, re.S)
    }


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared letters as a batch and its DuckDB file, as the README's questions start."""
    require_letter("letters/CM16-0213037.pdf")
    where = tmp_path_factory.mktemp("questions")
    out = where / "out"
    assert extractor("batch", LETTER.rsplit("/", 1)[0], "--out", str(out), "-q").returncode == 0
    assert extractor("export", str(out), "--to", "duckdb", str(out / "imr.duckdb")).returncode == 0
    return where


def ask(command: str, cwd: Path) -> str:
    """A README command run in ``cwd`` (where out/ is), with this interpreter for .venv/bin's."""
    python = shlex.quote(sys.executable)
    tools = {"extractor": f"{python} -m extractor", "python": python}
    line = re.sub(r"^\.venv/bin/(extractor|python)", lambda m: tools[m.group(1)], command)
    run = subprocess.run(
        ["bash", "-c", line], capture_output=True, text=True, env={**env(), "PYTHONPATH": str(ROOT)}, cwd=cwd
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_four_analyst_questions_have_one_command_each(analysed: Path) -> None:
    questions = _questions()
    assert len(questions) == 4
    answers = {
        question.split(" (")[0].rstrip(":"): ask(command, analysed) for question, command in questions.items()
    }
    by_year = answers["The overturn rate for physical therapy, by year"]
    assert "overturn rate by decision year" in by_year
    assert re.search(r"2017 .*\b\d+\*? .*%", by_year)
    specialties = answers["Which reviewer specialties overturn most"]
    assert "Family Medicine" in specialties  # "Family Practice" in the letters, normalised
    assert "Family Practice" not in specialties
    assert "CM17-0010420" in answers["The letters citing ODG for opioids"]
    lumbar = answers["The letters with a lumbar spine diagnosis"]
    assert len(re.findall(r"\bCM1[67]-\d{7}\b", lumbar)) == 24
