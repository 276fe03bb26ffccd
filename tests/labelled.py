"""Scripted model answers built from the hand labels, not from the code under test.

``support.fake_openai.perfect`` answers with the rules pass's own reading, so a hybrid test built
on it compares the rules pass with itself: a merge that ignored the LLM would still pass.  These
answers come from evals/fixtures/*.json instead, and the helpers below turn one into a model
that errs in one known way (a decision flipped, a value the letter never states), so each flag
the hybrid raises can be asserted for the fault that should raise it.
"""

from __future__ import annotations

import copy
from typing import Any

from evals.fixtures import FIXTURES_DIR, LoadedFixture, load_fixture
from extractor.llm.drafts import HeaderDraft, ItemDraft, PatientDraft
from support.fake_openai import BLOCK

JSON = dict[str, Any]

_SYNTHETIC = sorted(FIXTURES_DIR.glob("synthetic-*.json"))
SYNTHETIC = [path.stem for path in _SYNTHETIC]
"""The labels of the synthetic letters, which live in the repository (no documents root needed)."""


def labelled(stem: str) -> LoadedFixture:
    """The fixture ``evals/fixtures/<stem>.json``; its letter is resolved beside the labels."""
    return load_fixture(FIXTURES_DIR / f"{stem}.json", FIXTURES_DIR, FIXTURES_DIR)


def _asked(model: type[HeaderDraft | PatientDraft | ItemDraft], section: str | None = None) -> list[str]:
    """The keys a response model asks the model for (of its ``section``'s model, if given)."""
    schema = model.model_json_schema()
    if section is None:
        return list(schema["properties"])
    reference = schema["properties"][section]["$ref"]
    return list(schema["$defs"][reference.rsplit("/", 1)[-1]]["properties"])


def answer(loaded: LoadedFixture) -> JSON:
    """What a model that read exactly the labels would answer, as one determination (case,
    reviewer, patient, items) that ``support.fake_openai.served`` hands out a part per request.

    Only the keys the response models ask for are kept, in the form the model writes them
    (dates as text: ISO, which the draft also reads).
    """
    label = loaded.fixture.determination.model_dump(mode="json")
    data: JSON = {section: {key: label[section][key] for key in _asked(HeaderDraft, section)}
                  for section in ("case", "reviewer")}  # fmt: skip
    data["patient"] = {key: label["patient"][key] for key in _asked(PatientDraft)}
    data["items"] = [{key: item[key] for key in _asked(ItemDraft)} for item in label["items"]]
    return data


def flipped(data: JSON, index: int) -> JSON:
    """The answer with item ``index``'s decision turned the other way."""
    changed = copy.deepcopy(data)
    item = changed["items"][index]
    item["decision"] = "Overturned" if item["decision"] == "Upheld" else "Upheld"
    return changed


def replaced(data: JSON, section: str, key: str, value: Any) -> JSON:
    """The answer with ``section.key`` (``items[0]`` for an item) set to ``value``."""
    changed = copy.deepcopy(data)
    target = changed["items"][0] if section == "items[0]" else changed[section]
    if section == "items[0]":  # the fake still finds the item's block by its labelled heading
        target.setdefault(BLOCK, target["request"])
    target[key] = value
    return changed
