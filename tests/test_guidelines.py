"""Guideline citations, on sentences written for this test: pages written without a full stop,
section names that hold a comma, and a split next to a name the project does not know."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from extractor import extract
from extractor.citations import (
    UNKNOWN_SECTION,
    canonical,
    doubtful_split,
    known_sections,
    named_sections,
    split_sections,
)
from extractor.normalize import page_numbers
from extractor.rules import extract_rules
from extractor.rules.guidelines import parse_guidelines
from extractor.schemas import Guideline, GuidelineSource

CPMTG = "Chronic Pain Medical Treatment Guidelines"
_VOCABULARY = Path(__file__).resolve().parents[1] / "extractor" / "mtus_sections.toml"


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


def _citation(sections: str) -> Guideline:
    (guideline,) = parse_guidelines(f"Decision based on MTUS Knee Complaints 2004, Section(s): {sections}.")
    return guideline


@pytest.mark.parametrize(
    ("sections", "split", "doubtful"),
    [
        ("Special Studies, Summary", ["Special Studies", "Summary"], False),
        ("Opioids, criteria for use, Office visits", ["Opioids, criteria for use", "Office visits"], False),
        ("Massage therapy, deep tissue", ["Massage therapy", "deep tissue"], True),
        ("Special Studies, Bracing for night use", ["Special Studies", "Bracing for night use"], True),
        ("Bracing for night use", ["Bracing for night use"], False),  # unknown, but nothing was split
        ("Tramadol (Ultram, generic available)", ["Tramadol (Ultram, generic available)"], False),
    ],
)
def test_a_split_next_to_an_unknown_section_name_is_doubtful(
    sections: str, split: list[str], doubtful: bool
) -> None:
    guideline = _citation(sections)
    assert guideline.sections == split
    assert doubtful_split(guideline) is doubtful


def test_the_rules_pass_flags_a_doubtful_split_for_review() -> None:
    text = (
        "INDEPENDENT MEDICAL REVIEW\nCase Number: CM99-0000004\nDecision Date: 02/01/2017\n"
        "IMR ISSUES, DECISIONS AND RATIONALES:\nKnee brace: Upheld\n"
        "Claims Administrator guideline: Decision based on MTUS Knee Complaints 2004, Section(s): Summary.\n"
        "Reviewer guideline: Decision based on MTUS Knee Complaints 2004, Section(s): Summary, Knee "
        "supports, hinged.\nDecision rationale: The request is not medically necessary.\n"
    )
    doubts = extract_rules(text).doubts
    where = "determination.items[0].reviewer_guidelines"
    assert [(d.field, d.signal, d.reason) for d in doubts] == [(where, "unknown_section", UNKNOWN_SECTION)]
    record = extract(text, backend="rules")
    (flagged,) = [c for c in record.checks if c.field == where]
    assert flagged.review
    assert UNKNOWN_SECTION in (flagged.note or "")
    assert record.needs_review
    assert record.determination.items[0].reviewer_guidelines[0].sections == [
        "Summary",
        "Knee supports",
        "hinged",
    ]


def test_the_names_without_a_comma_hold_none_outside_parentheses() -> None:
    data = tomllib.loads(_VOCABULARY.read_text())
    bare = [re.sub(r"\([^)]*\)", "", name) for name in data["without_comma"]]
    assert not [name for name in bare if "," in name]
    assert len(named_sections()) == len(data["names"]) + len(data["without_comma"])


def _mtus(
    title: str, sections: list[str] | None = None, pages: list[int] | None = None, chapter: str | None = None
) -> Guideline:
    return Guideline(
        source=GuidelineSource.MTUS, title=title, chapter=chapter, sections=sections or [], pages=pages or []
    )


def test_a_model_citation_with_its_sections_in_the_title_is_read_into_entries() -> None:
    """What the model copied whole ("Title, Section(s): ..., and Title2") takes the form the
    grammar gives the same words in the letter: two entries, each with its own sections."""
    two = "Knee Complaints 2004, Section(s): Summary, and Elbow Disorders 2007, Section(s): Summary."
    assert canonical([_mtus(two, ["Summary"], [343])]) == [
        _mtus("Knee Complaints 2004", ["Summary"], chapter="Knee Complaints"),
        _mtus("Elbow Disorders 2007", ["Summary"], [343], chapter="Elbow Disorders"),
    ]
    one = _mtus("Chronic Pain Medical Treatment 2016, Section(s): Opioids, criteria for use.")
    assert canonical([one]) == [
        _mtus("Chronic Pain Medical Treatment 2016", ["Opioids, criteria for use"], chapter=CPMTG)
    ]
    assert canonical([one]) == parse_guidelines(f"Decision based on MTUS {one.title}")


def test_a_model_section_list_is_divided_as_the_letter_divides_it() -> None:
    cut = _mtus("Chronic Pain Medical Treatment 2016", ["Opioids", "criteria for use", "Office visits"])
    joined = _mtus("Chronic Pain Medical Treatment 2016", ["Muscle relaxants, Office visits"])
    assert canonical([cut])[0].sections == ["Opioids, criteria for use", "Office visits"]
    assert canonical([joined])[0].sections == ["Muscle relaxants", "Office visits"]


def test_a_model_section_that_only_repeats_its_title_goes_and_a_topic_after_the_chapter_stays() -> None:
    """The topic is read off the title as the letter's is; an ODG citation's sections are read as
    written after its title, so they are kept only as the letter's topic would be."""
    topic = _mtus("Chronic Pain Treatment Guidelines Aquatic therapy.", ["aquatic  therapy"], [22])
    expected = _mtus("Chronic Pain Treatment Guidelines", ["Aquatic therapy"], [22], chapter=CPMTG)
    assert canonical([topic]) == [expected]
    odg = Guideline(source=GuidelineSource.ODG, title="ODG, Knee and Leg, MRI", sections=["Special Studies"])
    knee = "Knee & Leg (Acute & Chronic)"
    assert canonical([odg]) == [
        Guideline(
            source=GuidelineSource.ODG,
            title="ODG, Knee and Leg",
            chapter=knee,
            sections=["MRI, Special Studies"],
        )
    ]
    (letter,) = parse_guidelines(f"Decision based on Non-MTUS Citation {odg.title}")
    assert (letter.title, letter.chapter, letter.sections) == ("ODG, Knee and Leg", knee, ["MRI"])
    none_cited = Guideline()
    assert canonical([none_cited]) == [none_cited]
