"""docs/record.md is the models' page, and the models hold every name the record contract fixes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evals.fixtures import DocumentsRootMissing, documents_root
from extractor.schemas import Record

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "record.md"


def test_the_committed_page_is_the_models() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "extractor", "schema", "--markdown"], capture_output=True, text=True, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    assert PAGE.read_text(encoding="utf-8") == run.stdout, "run: extractor schema --markdown > docs/record.md"


def _properties(schema: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(model, field) for every property of the JSON Schema, nested models included."""
    for name, node in [(schema["title"], schema), *schema["$defs"].items()]:
        for field in node.get("properties", {}):
            yield name, field


def _enums(schema: dict[str, Any]) -> Iterator[str]:
    for node in schema["$defs"].values():
        yield from node.get("enum", [])


def _section(page: str, name: str) -> str:
    found = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", page, re.S | re.M)
    assert found is not None, f"docs/record.md has no section for {name}"
    return found.group(1)


def test_the_page_names_every_field_and_value_of_the_json_schema() -> None:
    schema = json.loads((ROOT / "schemas" / "record.schema.json").read_text(encoding="utf-8"))
    page = PAGE.read_text(encoding="utf-8")
    for model, field in _properties(schema):
        assert f"| `{field}` |" in _section(page, model), f"{model}.{field} is not on docs/record.md"
    for value in _enums(schema):
        assert f"`{value}`" in page
    assert "](../schemas/record.schema.json)" in page


def _contract_names(contract: str) -> set[str]:
    """The keys of the contract's example record (not evidence's, which are paths) and the
    field names its value forms are written for."""
    example = json.loads(re.search(r"```json\n(.*?)```", contract, re.S).group(1))  # type: ignore[union-attr]
    names: set[str] = set()
    todo = [example]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            names |= set(value)
            todo.extend(v for k, v in value.items() if k != "evidence")
        elif isinstance(value, list):
            todo.extend(value)
    forms = contract[contract.index("## Value forms") :]
    return names | set(re.findall(r"`([a-z_]+)`(?: \([a-z]+\))?:", forms))


def test_every_name_the_contract_fixes_is_in_the_schema() -> None:
    try:
        contract = documents_root() / "CONTRACT.md"
    except DocumentsRootMissing:
        pytest.skip("no ../shared here")
    if not contract.exists():
        pytest.skip(f"no {contract}")
    fixed = _contract_names(contract.read_text(encoding="utf-8"))
    assert {"case_number", "drug_class", "confidence", "pages"} <= fixed  # the contract was read
    ours = {field for _, field in _properties(Record.model_json_schema())}
    assert not fixed - ours, f"fields the contract fixes and the schema lacks: {sorted(fixed - ours)}"
