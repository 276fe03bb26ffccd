"""Guideline citations, on sentences written for this test: pages written without a full stop,
and section names that hold a comma."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from extractor.rules.guidelines import known_sections, page_numbers, parse_guidelines, split_sections

_VOCABULARY = Path(__file__).resolve().parents[1] / "extractor" / "rules" / "mtus_sections.toml"


@pytest.mark.parametrize(
    ("citation", "title", "pages"),
    [
        (
            "Decision based on MTUS Chronic Pain Medical Treatment 2009, p 301.",
            "Chronic Pain Medical Treatment 2009",
            [301],
        ),
        ("Decision based on MTUS Knee Complaints 2004, pp 12-13.", "Knee Complaints 2004", [12, 13]),
        ("Decision based on Non-MTUS Citation ODG, Low Back, p 44", "ODG, Low Back", [44]),
        ("Decision based on MTUS Knee Complaints 2004, Page(s): 98-99.", "Knee Complaints 2004", [98, 99]),
    ],
)
def test_a_page_reference_is_pages_never_title(citation: str, title: str, pages: list[int]) -> None:
    (guideline,) = parse_guidelines(citation)
    assert (guideline.title, guideline.pages) == (title, pages)


def test_bare_p_is_a_page_only_before_a_number() -> None:
    assert page_numbers("see p 7 and pp 9-10") == [7, 9, 10]
    assert page_numbers("a pump in the spine") == []


def test_a_comma_inside_a_known_section_name_does_not_split_it() -> None:
    (guideline,) = parse_guidelines(
        "Decision based on MTUS Chronic Pain Medical Treatment 2009, Section(s): Topical analgesics, "
        "compounded, Opioids, criteria for use, NSAIDs, GI symptoms & cardiovascular risk, Office visits, "
        "Tramadol (Ultram, generic available)."
    )
    assert guideline.sections == [
        "Topical analgesics, compounded",
        "Opioids, criteria for use",
        "NSAIDs, GI symptoms & cardiovascular risk",
        "Office visits",
        "Tramadol (Ultram, generic available)",
    ]


def test_unknown_names_still_split_on_commas() -> None:
    assert split_sections("Opioids, Muscle relaxants, NSAIDs") == ["Opioids", "Muscle relaxants", "NSAIDs"]


def test_every_known_section_name_holds_a_comma_and_is_listed_once() -> None:
    names = tomllib.loads(_VOCABULARY.read_text())["names"]
    assert all("," in name for name in names)
    assert len(known_sections()) == len(names)
    assert all(split_sections(name) == [name] for name in names)
