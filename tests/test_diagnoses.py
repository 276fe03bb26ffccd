"""The diagnosis-list rule both passes divide by (extractor/diagnoses.py), on lists written here."""

from __future__ import annotations

import pytest

from extractor.diagnoses import regroup, split_diagnoses


def _split(text: str) -> list[str]:
    return [text[start:end] for start, end in split_diagnoses(text, (0, len(text)))]


def test_an_icd_name_with_and_in_it_is_not_cut_at_its_and() -> None:
    assert _split("sprain of wrist, strain of muscle, fascia and tendon of lower back") == [
        "sprain of wrist",
        "strain of muscle, fascia and tendon of lower back",
    ]
    assert _split("neck pain and strain of unspecified muscles, fascia and tendons at hip level") == [
        "neck pain",
        "strain of unspecified muscles, fascia and tendons at hip level",
    ]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        # entries the model cut inside one diagnosis are joined again
        (["strain of muscle", "fascia and tendon"], ["strain of muscle, fascia and tendon"]),
        (["ankle sprain", "initial encounter", "tinnitus"], ["ankle sprain, initial encounter", "tinnitus"]),
        (["radiculopathy", "lumbar region"], ["radiculopathy, lumbar region"]),
        (["wrist", "elbow", "hand pain"], ["wrist, elbow, hand pain"]),
        # a list the model ran together is cut where the letter's list would be
        (["hip bursitis and major depressive disorder"], ["hip bursitis", "major depressive disorder"]),
        (["sprain", "subsequent encounter and tinnitus"], ["sprain, subsequent encounter", "tinnitus"]),
        (["Muscle spasm, Tinnitus"], ["Muscle spasm", "Tinnitus"]),
        # what is one diagnosis stays one
        (["cervical and lumbar spine strain"], ["cervical and lumbar spine strain"]),
        (["knee pain", "lumbar strain"], ["knee pain", "lumbar strain"]),
        ([], []),
        (["  ", ""], []),
    ],
)
def test_a_model_list_is_divided_by_the_same_rule(answer: list[str], expected: list[str]) -> None:
    assert regroup(answer) == expected


def test_a_comma_inside_a_known_icd_title_never_splits_it() -> None:
    """ "Other specific arthropathies, not elsewhere classified, right shoulder" is one ICD-10-CM
    title (M12.811); without the code set its commas would make three diagnoses."""
    text = "other specific arthropathies, not elsewhere classified, right shoulder and low back pain"
    assert [text[a:b] for a, b in split_diagnoses(text, (0, len(text)))] == [
        "other specific arthropathies, not elsewhere classified, right shoulder",
        "low back pain",
    ]
