"""Fuzzed input through ``extract``: always a record or a typed error, never anything else."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractor import ExtractionError, extract
from extractor.reading import read_bytes, read_path
from extractor.schemas import Record
from tests.documents import require_letter

LETTER = "letters/CM16-0248698.pdf"  # 21 items: the richest structure to break
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _record_or_typed_error(data: bytes, name: str) -> None:
    outcome: Record | ExtractionError
    try:
        outcome = extract(read_bytes(data, name))
    except ExtractionError as error:
        outcome = error
    if isinstance(outcome, ExtractionError):
        assert outcome.kind
        assert outcome.message
    else:
        Record.model_validate_json(outcome.model_dump_json())


@_SETTINGS
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    _record_or_typed_error(text.encode("utf-8", "surrogatepass"), "fuzz.txt")


@pytest.fixture(scope="module")
def letter_lines() -> list[str]:
    """The letter's lines, read once for every example rather than once per example."""
    return read_path(require_letter(LETTER)).text.split("\n")


@_SETTINGS
@given(st.data())
def test_letter_text_with_lines_dropped_shuffled_or_mangled(
    letter_lines: list[str], data: st.DataObject
) -> None:
    lines = list(letter_lines)
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    operation = data.draw(st.sampled_from(["drop", "shuffle", "cut", "duplicate", "mangle"]))
    if operation == "drop":
        lines = [line for line in lines if rng.random() > 0.3]
    elif operation == "shuffle":
        rng.shuffle(lines)
    elif operation == "cut":
        lines = lines[: rng.randrange(len(lines))]
    elif operation == "duplicate":
        lines = lines + lines[rng.randrange(len(lines)) :]
    else:
        lines = [data.draw(st.text(max_size=40)) if rng.random() < 0.1 else line for line in lines]
    _record_or_typed_error("\n".join(lines).encode("utf-8", "surrogatepass"), "fuzz.txt")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["flip", "truncate", "splice"]))
def test_mutated_pdf_bytes(seed: int, operation: str) -> None:
    data = bytearray(require_letter(LETTER).read_bytes())
    rng = random.Random(seed)
    if operation == "flip":
        for _ in range(rng.randint(1, 64)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif operation == "truncate":
        data = data[: rng.randrange(len(data))]
    else:
        start = rng.randrange(len(data))
        data[start : start + rng.randint(1, 512)] = rng.randbytes(rng.randint(0, 512))
    _record_or_typed_error(bytes(data), "fuzz.pdf")
