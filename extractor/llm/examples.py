"""Worked examples in the prompts, and the check that keeps them honest.

A small model copies what it is shown, so each prompt carries two or three short examples
written for the purpose (prompts/examples/*.toml).  As LangExtract validates its examples, an
example is only allowed when every value of its answer can be found in its own input: an
answer that says more than its input teaches the model to invent.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from extractor.llm import templates
from extractor.normalize import page_numbers, state_codes

CLASSIFIED = frozenset({"category", "region", "side", "source", "sex"})
"""Keys whose value is a class the model assigns (from the prompt's vocabulary), not a copy."""


@dataclass(frozen=True)
class Example:
    """One input (a part of a made-up letter) and the answer the model should give for it."""

    input: str
    answer: dict[str, Any]

    def render(self, number: int, fence: str) -> str:
        return f"Example {number}:\n<{fence}>\n{self.input}\n</{fence}>\nAnswer: {json.dumps(self.answer)}"


def load(name: str) -> list[Example]:
    """The examples of ``prompts/<name>`` (a TOML file of ``[[example]]`` tables)."""
    tables = tomllib.loads(templates.load(name))["example"]
    return [Example(table["input"].strip(), json.loads(table["answer"])) for table in tables]


def _leaves(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for name, inner in value.items():
            yield from _leaves(inner, name)
    elif isinstance(value, list):
        for inner in value:
            yield from _leaves(inner, key)
    elif value is not None:
        yield key, value


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def unfound(example: Example) -> list[str]:
    """The answer's values that its input does not contain (empty for an honest example).

    Text is compared without case and with runs of white space as one space (a heading wraps);
    a number must appear as a number, or as a page inside a page range it cites (read as the
    letters' page references are, :func:`extractor.normalize.page_numbers`); a state code must be a
    state the input names.
    """
    text = _squeezed(example.input)
    numbers = set(re.findall(r"\d+", text)) | {str(page) for page in page_numbers(example.input)}
    states = {code for code, _ in state_codes(example.input)}
    missing: list[str] = []
    for key, value in _leaves(example.answer):
        if key in CLASSIFIED:
            continue
        if key == "licensure_states":
            found = value in states
        elif isinstance(value, int):
            found = str(value) in numbers
        else:
            found = _squeezed(str(value)) in text
        if not found:
            missing.append(f"{key}: {value!r}")
    return missing
