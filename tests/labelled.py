"""Scripted model answers built from the hand labels, not from the code under test.

``tests.fake_openai.perfect`` answers with the rules pass's own reading, so a hybrid test built
on it compares the rules pass with itself: a merge that ignored the LLM would still pass.  These
answers come from evals/fixtures/*.json instead, and the helpers below turn one into a model
that errs in one known way (a decision flipped, an item missed or invented, a value the letter
never states), so each flag the hybrid raises can be asserted for the fault that should raise it.
"""

from __future__ import annotations

import copy
from typing import Any

from evals.fixtures import FIXTURES_DIR, LoadedFixture, load_fixture
from extractor.llm.prompting import DeterminationDraft

JSON = dict[str, Any]

_SYNTHETIC = sorted(FIXTURES_DIR.glob("synthetic-*.json"))
SYNTHETIC = [path.stem for path in _SYNTHETIC]
"""The labels of the synthetic letters, which live in the repository (no documents root needed)."""


def labelled(stem: str) -> LoadedFixture:
    """The fixture ``evals/fixtures/<stem>.json``; its letter is resolved beside the labels."""
    return load_fixture(FIXTURES_DIR / f"{stem}.json", FIXTURES_DIR, FIXTURES_DIR)


def _asked(schema: JSON, section: str) -> list[str]:
    """The keys the model is asked for in ``section`` of the response model (an item's for items)."""
    node = schema["properties"][section]
    reference = node.get("items", node)["$ref"]
    return list(schema["$defs"][reference.rsplit("/", 1)[-1]]["properties"])


def answer(loaded: LoadedFixture) -> JSON:
    """The ``Determination`` tool call a model that read exactly the labels would make.

    Only the keys the prompt's schema asks for are kept, in the form the model writes them
    (dates as text: ISO, which the draft also reads).
    """
    schema = DeterminationDraft.model_json_schema()
    label = loaded.fixture.determination.model_dump(mode="json")
    data: JSON = {
        section: {key: label[section][key] for key in _asked(schema, section)}
        for section in ("case", "reviewer", "patient")
    }
    data["items"] = [{key: item[key] for key in _asked(schema, "items")} for item in label["items"]]
    return data


def flipped(data: JSON, index: int) -> JSON:
    """The answer with item ``index``'s decision turned the other way."""
    changed = copy.deepcopy(data)
    item = changed["items"][index]
    item["decision"] = "Overturned" if item["decision"] == "Upheld" else "Upheld"
    return changed


def missing(data: JSON, index: int) -> JSON:
    """The answer without item ``index``: a model that missed it."""
    changed = copy.deepcopy(data)
    del changed["items"][index]
    return changed


def invented(data: JSON, request: str) -> JSON:
    """The answer with one more item, ``request``, that the letter never decides."""
    changed = copy.deepcopy(data)
    changed["items"].append({**changed["items"][0], "request": request, "original_request": None})
    return changed


def replaced(data: JSON, section: str, key: str, value: Any) -> JSON:
    """The answer with ``section.key`` (``items[0]`` for an item) set to ``value``."""
    changed = copy.deepcopy(data)
    target = changed["items"][0] if section == "items[0]" else changed[section]
    target[key] = value
    return changed
