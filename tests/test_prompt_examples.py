"""The worked examples in the prompts: valid answers, in the shape asked, found in their own input."""

from __future__ import annotations

import pytest

from extractor.llm import examples, templates
from extractor.llm.prompting import MODELS, Kind

KINDS: tuple[Kind, ...] = ("header", "patient", "item")


def _shown(kind: Kind) -> list[examples.Example]:
    return examples.load(f"examples/{kind}.toml")


@pytest.mark.parametrize("kind", KINDS)
def test_every_prompt_has_two_or_three_examples(kind: Kind) -> None:
    assert 2 <= len(_shown(kind)) <= 3
    assert f"examples/{kind}.toml" in templates.EXAMPLES


@pytest.mark.parametrize("kind", KINDS)
def test_every_example_answer_is_valid_and_in_the_order_the_model_writes(kind: Kind) -> None:
    model = MODELS[kind]
    schema = model.model_json_schema()
    for example in _shown(kind):
        model.model_validate(example.answer)
        assert list(example.answer) == list(schema["properties"])


@pytest.mark.parametrize("kind", KINDS)
def test_every_example_answer_is_found_in_its_own_input(kind: Kind) -> None:
    for example in _shown(kind):
        assert examples.unfound(example) == []


def test_an_answer_that_says_more_than_its_input_is_caught() -> None:
    honest = examples.Example(
        "Decision based on MTUS Chronic Pain, Page(s): 98-99. Licensed in California.",
        {"title": "Chronic Pain", "pages": [98, 99], "licensure_states": ["CA"], "category": "imaging"},
    )
    assert examples.unfound(honest) == []
    invented = examples.Example(
        honest.input,
        {"title": "Chronic Pain Guidelines", "pages": [100], "licensure_states": ["NV"], "sex": "male"},
    )
    assert examples.unfound(invented) == [
        "title: 'Chronic Pain Guidelines'",
        "pages: 100",
        "licensure_states: 'NV'",
    ]


def test_a_heading_wrapped_in_the_input_is_found_on_one_line() -> None:
    example = examples.Example(
        "Physical therapy for the\nlumbar   spine: Upheld",
        {"request": "Physical therapy for the lumbar spine"},
    )
    assert examples.unfound(example) == []


def test_a_page_inside_a_written_range_is_found_and_one_beyond_it_is_not() -> None:
    """The prompt asks a range written out in full ("76-78" is 76, 77, 78), so an example may."""
    example = examples.Example("Page(s): 76-78.", {"pages": [76, 77, 78, 79]})
    assert examples.unfound(example) == ["pages: 79"]
