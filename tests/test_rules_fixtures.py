"""The rules pass against every hand label, field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractor import extract
from tests.documents import FIXTURES, require_letter

# The rules pass reads these too, but the eval measures them as rates (diagnoses and the
# mechanism fuzzily, with recall and precision; the diagnoses' codes per code and category),
# reported apart for the letters tuned on and the check set: they are not required exact on
# every letter.
NOT_RULES_FIELDS = {"diagnoses", "mechanism_of_injury", "body_regions", "depends_on", "diagnosis_codes"}
LABELS = sorted(FIXTURES.glob("*.json"))


def _differences(got: Any, label: Any, path: str) -> list[str]:
    """Every labelled key whose extracted value differs (keys absent from the label are unlabelled)."""
    if isinstance(label, dict):
        return [
            diff
            for key, value in label.items()
            if key not in NOT_RULES_FIELDS
            for diff in _differences((got or {}).get(key), value, f"{path}.{key}")
        ]
    if isinstance(label, list) and label and isinstance(label[0], dict):
        got = got or []
        if len(got) != len(label):
            return [f"{path}: {len(got)} entries, label has {len(label)}"]
        return [
            d
            for i, (g, v) in enumerate(zip(got, label, strict=True))
            for d in _differences(g, v, f"{path}[{i}]")
        ]
    return [] if got == label else [f"{path}: got {got!r}, label {label!r}"]


def test_there_are_enough_labels() -> None:
    assert len(LABELS) >= 40


@pytest.mark.parametrize("label_file", LABELS, ids=[p.stem for p in LABELS])
def test_rules_pass_matches_label(label_file: Path) -> None:
    label = json.loads(label_file.read_text())
    record = extract(require_letter(label["document"]["path"]), backend="rules")
    got = record.determination.model_dump(mode="json")
    assert _differences(got, label["determination"], "determination") == []
    if label["document"]["path"].startswith("letters/"):
        assert record.document.id == label["document"]["id"]
