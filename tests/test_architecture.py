"""The shape of the package: one way through the imports, and an installed copy that is one package.

The import graph is read from the source with ``ast`` (every import statement, in functions
too, except those under ``if TYPE_CHECKING:``), so a cycle or a layer crossed fails here
before it becomes a slow or circular import somewhere else.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import get_args

import pytest

from extractor.llm import prompt_version, templates
from extractor.pipeline import BACKENDS
from extractor.schemas import Backend, Record
from tests.documents import require_letter

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "extractor"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(tree: ast.AST, known: Collection[str] = ()) -> Iterator[str]:
    """Every module an import statement loads: ``from a import b`` is ``a.b`` when that is a
    module in ``known``, else ``a`` (importing a submodule is not an import of its package)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            yield from (name for child in node.orelse for name in imported_names(child, known))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield submodule if submodule in known else node.module
        yield from imported_names(node, known)


REPOSITORY_TOOLING = {"evals", "support", "tests"}
"""Top-level packages of the repository that never ship."""


def import_graph() -> dict[str, set[str]]:
    """Module -> the first-party modules (extractor's, and the tooling's) it imports."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = set()
        for imported in imported_names(ast.parse(path.read_text(encoding="utf-8")), known):
            if (imported in known and imported != name) or imported.split(".")[0] in REPOSITORY_TOOLING:
                targets.add(imported)
        graph[name] = targets
    return graph


_MODULE_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def named_modules(tree: ast.AST) -> Iterator[str]:
    """The modules a file imports, and those it names in a string that is a dotted module path
    alone (``python -m tests.x``, ``import_module("tests.x")``)."""
    yield from imported_names(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _MODULE_PATH.fullmatch(node.value)
        ):
            yield node.value


def outside_tests() -> Iterator[Path]:
    """Every Python file of the repository outside tests/ (virtual environments, build output and
    mutmut's copies aside)."""
    for top in sorted(ROOT.iterdir()):
        if top.name.startswith(".") or top.name in {"tests", "build", "mutants"} or top.suffix == ".egg-info":
            continue
        if top.is_dir() and not (top / "pyvenv.cfg").exists():
            yield from sorted(top.rglob("*.py"))
        elif top.suffix == ".py":
            yield top


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_graph_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\ndef f():\n    import y\n"
    tree = ast.parse(source)
    assert set(imported_names(tree)) == {"typing", "y"}
    assert set(imported_names(ast.parse("from a import b, c"), known={"a.b"})) == {"a.b", "a"}
    named = ast.parse('"""Run as python -m tests.x."""\nrun([python, "-m", "tests.x"])\nf("a b.c")\n')
    assert set(named_modules(named)) == {"tests.x"}


def test_no_import_cycle_in_the_package() -> None:
    assert cycles(import_graph()) == []


def test_the_package_imports_the_tooling_only_where_the_eval_command_runs_the_harness() -> None:
    """``extractor eval`` runs a checkout's evals/ (and says so without one); nothing else in the
    package imports evals, support or tests."""
    graph = import_graph()
    crossing = {(m, t) for m, ts in graph.items() for t in ts if t.split(".")[0] in REPOSITORY_TOOLING}
    assert crossing == {("extractor.cli.evaluate", "evals.harness")}


def test_nothing_outside_tests_imports_tests() -> None:
    """The test doubles benchmarks and docs scripts use live in support/, not in tests/."""
    sources = list(outside_tests())
    assert {"benchmarks", "docs", "evals", "extractor", "support"} <= {
        path.relative_to(ROOT).parts[0] for path in sources
    }
    importing = {
        str(path.relative_to(ROOT)): sorted(
            {name for name in named_modules(tree) if name.split(".")[0] == "tests"}
        )
        for path in sources
        for tree in [ast.parse(path.read_text(encoding="utf-8"))]
    }
    assert {path: names for path, names in importing.items() if names} == {}


def test_only_the_cli_imports_the_cli() -> None:
    graph = import_graph()
    outside = {m for m in graph if not m.startswith("extractor.cli") and m != "extractor.__main__"}
    assert {m for m in outside if any(t.startswith("extractor.cli") for t in graph[m])} == set()


def test_the_two_passes_are_siblings() -> None:
    """Both read the layout and the normalisers; neither imports the other."""
    graph = import_graph()

    def reaches(prefix: str, target: str) -> set[str]:
        return {m for m in graph if m.startswith(prefix) and any(t.startswith(target) for t in graph[m])}

    assert reaches("extractor.rules", "extractor.llm") == set()
    assert reaches("extractor.llm", "extractor.rules") == set()
    for below in ("extractor.layout", "extractor.normalize"):
        assert reaches(below, "extractor.rules") | reaches(below, "extractor.llm") == set()
    assert "extractor.layout" in graph["extractor.llm.prompting"]
    assert "extractor.layout" in graph["extractor.rules"]


COMPOSER = PACKAGE / "pipeline.py"
STAGE_INSIDES = frozenset({"check_letter", "asked_parts", "asks_header", "extract_rules"})
"""What a letter's journey is made of: composed by extractor.pipeline alone."""


def _backend_names(node: ast.AST) -> set[str]:
    """The backend names a comparison's operand spells out, alone or in a tuple, list or set."""
    names = set(get_args(Backend))
    if isinstance(node, ast.Constant) and node.value in names:
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return {name for element in node.elts for name in _backend_names(element)}
    return set()


def branches_on_backend_names(tree: ast.AST) -> list[int]:
    """Lines comparing something with a backend's name (``backend == "rules"``, ``in ("llm", …)``)."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(_backend_names(side) for side in [node.left, *node.comparators])
    ]


def test_the_backend_finder_sees_a_branch_on_a_name() -> None:
    assert branches_on_backend_names(ast.parse('if backend == "hybrid":\n    pass')) == [1]
    assert branches_on_backend_names(ast.parse('ok = name in ("llm", "x")')) == [1]
    assert branches_on_backend_names(ast.parse('ok = status == "rules_only"')) == []


def test_only_the_composer_branches_on_a_backend_name() -> None:
    """A backend is its entry in extractor.pipeline.BACKENDS: nothing else asks which one it is."""
    found = {
        str(path.relative_to(ROOT)): lines
        for path in outside_tests()
        if path != COMPOSER
        and (lines := branches_on_backend_names(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}


def test_only_the_composer_uses_the_stages_insides() -> None:
    """Batch, eval and benchmarks compose extractor.pipeline's stages (read, ask, finish), never
    the steps inside them."""
    found = {}
    for path in outside_tests():
        if path == COMPOSER or path.is_relative_to(PACKAGE / "rules"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
        }
        if used := sorted(names & STAGE_INSIDES):
            found[str(path.relative_to(ROOT))] = used
    assert found == {
        "evals/harness.py": ["extract_rules"],  # the calibration fits the rules pass alone
        "support/fake_openai.py": ["extract_rules"],  # the fake model answers with the rules' reading
    }


def test_every_backend_is_an_entry_of_the_table() -> None:
    assert set(BACKENDS) == set(get_args(Backend))
    assert all(compared in BACKENDS for passes in BACKENDS.values() for compared in passes.compares)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EXTRACTOR_"))}
    env.pop("PYTHONPATH", None)
    return env


HEAVY = {"openai", "instructor", "vcr", "httpx", "duckdb", "matplotlib", "pyarrow"}
"""The LLM stack and the analyst layer's engines: only the commands that use them load them."""


@pytest.mark.parametrize("backend", ["rules", "auto"])
def test_rules_extraction_loads_no_llm_stack(backend: str) -> None:
    letter = require_letter("letters/CM16-0213037.pdf")
    probe = (
        "import sys\nfrom extractor.cli import main\n"
        f"code = main(['extract', '--backend', {backend!r}, {str(letter)!r}])\n"
        f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r})\n"
        "loaded += sorted(m for m in sys.modules if m.startswith('extractor.jobs'))  # the batch machinery\n"
        "print('LOADED', loaded, code, file=sys.stderr)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=_clean_env(), timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["document"]["id"] == "CM16-0213037"
    assert "LOADED [] 0" in run.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built as a wheel, as `pip install .` would build it."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    # A copy, so that the build leaves no build/ folder in the checkout to go stale.
    for name in ("extractor", "prompts"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (built,) = out.glob("imr_extractor-*.whl")
    return built


def test_the_wheel_installs_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["extractor"]
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"extractor"}
    prompts = {name for name in names if name.startswith("extractor/prompts/")}
    shipped = {f"extractor/prompts/{name}" for name in (*templates.TEMPLATES, *templates.EXAMPLES)}
    assert shipped <= prompts
    page = {f"extractor/review/static/{name}" for name in ("index.html", "app.js", "app.css")}
    assert page <= set(names)  # the review page is package data
    assert not [name for name in names if "cassettes" in name or "fixtures" in name or name.endswith(".yaml")]


def test_the_installed_copy_extracts_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """Unpacked on its own path (the dependencies come from this environment), run from elsewhere."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    letter = require_letter("letters/CM16-0213037.pdf")
    env = _clean_env() | {"PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import extractor, sys; print(extractor.__file__)"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(site)
    extract = subprocess.run(
        [sys.executable, "-m", "extractor", "extract", "--backend", "rules", str(letter)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert extract.returncode == 0, extract.stderr[-2000:]
    assert json.loads(extract.stdout)["determination"]["items"]
    schema = subprocess.run(
        [sys.executable, "-m", "extractor", "schema"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert json.loads(schema.stdout)["title"] == "Record"
    version = subprocess.run(
        [sys.executable, "-c", "from extractor.llm import prompt_version; print(prompt_version())"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert version.stdout.strip() == prompt_version()  # the prompt files shipped, byte for byte
    evaluate = subprocess.run(
        [sys.executable, "-m", "extractor", "eval"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert evaluate.returncode == 2
    assert "run it from a checkout" in evaluate.stderr


def test_the_committed_json_schema_is_the_models() -> None:
    committed = json.loads((ROOT / "schemas" / "record.schema.json").read_text(encoding="utf-8"))
    assert committed == Record.model_json_schema(), "run: extractor schema > schemas/record.schema.json"
