"""Guideline chapters, on titles written for this test: each family of ways letters name a
chapter, a topic after an ODG or MTUS title going to its sections, a chapter the vocabulary does
not know flagged rather than guessed, and the LLM pass reading chapters as the rules pass does."""

from __future__ import annotations

import json

import pytest

from extractor import chapters, extract
from extractor.citations import UNKNOWN_CHAPTER, canonical, chaptered, unknown_chapter
from extractor.llm import drafts
from extractor.rules import extract_rules
from extractor.rules.guidelines import parse_guidelines
from extractor.schemas import Guideline, GuidelineSource

MTUS, ACOEM, ODG = GuidelineSource.MTUS, GuidelineSource.ACOEM, GuidelineSource.ODG
OTHER = GuidelineSource.OTHER
CPMTG = "Chronic Pain Medical Treatment Guidelines"
LOW_BACK = "Low Back - Lumbar & Thoracic (Acute & Chronic)"
ODG_NAME = "Official Disability Guidelines (ODG)"

NAMED = {
    MTUS: [
        "Chronic Pain Medical Treatment Guidelines", "Acupuncture Medical Treatment Guidelines",
        "Postsurgical Treatment Guidelines", "Opioid Treatment Guidelines", "General Approaches",
    ],
    ACOEM: [
        "Prevention", "General Approach to Initial Assessment and Documentation",
        "Initial Approaches to Treatment", "Work-Relatedness",
        "Cornerstones of Disability Prevention and Management",
        "Pain, Suffering, and the Restoration of Function",
        "Independent Medical Examinations and Consultations", "Neck and Upper Back Complaints",
        "Shoulder Complaints", "Elbow Disorders", "Forearm, Wrist, and Hand Complaints",
        "Low Back Complaints", "Knee Complaints", "Ankle and Foot Complaints",
        "Stress-Related Conditions", "Eye", "Low Back Disorders",
        "Cervical and Thoracic Spine Disorders", "Shoulder Disorders",
        "Hand, Wrist, and Forearm Disorders", "Knee Disorders", "Ankle and Foot Disorders",
        "Hip and Groin Disorders", "Eye Disorders", "Chronic Pain", "Opioids", "Traumatic Brain Injury",
        "Workplace Mental Health", "Occupational/Work-Related Asthma",
        "Occupational Interstitial Lung Disease",
    ],
    ODG: [
        "Ankle & Foot (Acute & Chronic)", "Burns", "Carpal Tunnel Syndrome (Acute & Chronic)",
        "Elbow (Acute & Chronic)", "Eye", "Fitness For Duty", "Forearm, Wrist, & Hand (Acute & Chronic)",
        "Head (trauma, headaches, etc., not including stress & mental disorders)", "Hernia",
        "Hip & Pelvis (Acute & Chronic)", "Knee & Leg (Acute & Chronic)",
        "Low Back - Lumbar & Thoracic (Acute & Chronic)", "Mental Illness & Stress",
        "Neck and Upper Back (Acute & Chronic)", "Pain (Chronic)", "Pulmonary (Acute & Chronic)",
        "Shoulder (Acute & Chronic)", "Physical Therapy Guidelines", "Chiropractic Guidelines",
        "Workers' Comp Drug Formulary", "Treatment in Workers' Comp",
        "Integrated Treatment/Disability Duration Guidelines",
    ],
}  # fmt: skip
"""Every chapter of the vocabulary, by source (MTUS citations name ACOEM's too): one added to
extractor/guideline_chapters.toml is named here."""


def test_every_chapter_of_the_vocabulary_is_named_here_and_reads_as_itself() -> None:
    names = {source: set(table.values()) for source, table in chapters.vocabulary().items()}
    assert names[ODG] == set(NAMED[ODG])
    assert names[ACOEM] == set(NAMED[ACOEM])
    assert names[MTUS] == set(NAMED[MTUS]) | set(NAMED[ACOEM])  # the MTUS adopted ACOEM's chapters
    for source, listed in NAMED.items():
        for name in listed:
            assert chapters.read(source, name) == (name, name, None)


@pytest.mark.parametrize(
    ("source", "title", "chapter"),
    [
        # MTUS edition words and years
        (MTUS, "Chronic Pain Medical Treatment 2016", CPMTG),
        (MTUS, "Chronic Pain Medical Treatment 2016 Guidelines", CPMTG),
        (MTUS, "Chronic Pain Medical Treatment 2009", CPMTG),
        (MTUS, "Chronic Pain Treatment Guidelines", CPMTG),
        (MTUS, "CPMTG", CPMTG),
        (MTUS, "Acupuncture Treatment 2007", "Acupuncture Medical Treatment Guidelines"),
        (MTUS, "Opioid Treatment 2016", "Opioid Treatment Guidelines"),
        (MTUS, "Post-Surgical Treatment 2009", "Postsurgical Treatment Guidelines"),
        (MTUS, "Shoulder Complaints 2004", "Shoulder Complaints"),
        (MTUS, "Stress Related Conditions 2004", "Stress-Related Conditions"),
        # an ACOEM chapter, cited under MTUS or ACOEM, with its source's name and edition first
        (MTUS, "ACOEM Chapter 12 Low Back Complaints", "Low Back Complaints"),
        (MTUS, "CA MTUS ACOEM Chapter 8 Neck & Upper Back Complaints", "Neck and Upper Back Complaints"),
        (ACOEM, "ACOEM Occupational Medicine Practice Guidelines, 3rd ed., Low Back Disorders",
         "Low Back Disorders"),
        (ACOEM, "ACOEM Guidelines, Chapter 7, Independent Medical Examinations and Consultations",
         "Independent Medical Examinations and Consultations"),
        (ACOEM, "ACOEM Hip and Groin Chapter", "Hip and Groin Disorders"),
        # ODG: its name in full or short, "Chapter"/"section", "&" or "and", asides
        (ODG, f"{ODG_NAME}, Pain", "Pain (Chronic)"),
        (ODG, "ODG Pain (Chronic)", "Pain (Chronic)"),
        (ODG, f"{ODG_NAME}, Pain chapter (online version)", "Pain (Chronic)"),
        (ODG, f"{ODG_NAME} Low Back Chapter", LOW_BACK),
        (ODG, f"{ODG_NAME} Low back section", LOW_BACK),
        (ODG, "ODG, Low Back & Thoracic chapter (Acute & Chronic)", LOW_BACK),
        (ODG, "ODG Low Back -Lumbar & Thoracic (Acute & Chronic)", LOW_BACK),
        (ODG, "Official Disability Guidelines, Knee and leg", "Knee & Leg (Acute & Chronic)"),
        (ODG, "ODG Guidelines, 14th Edition, 2016, Knee Chapter", "Knee & Leg (Acute & Chronic)"),
        (ODG, f"{ODG_NAME}, Hips and Pelvis (Acute and Chronic)", "Hip & Pelvis (Acute & Chronic)"),
        (ODG, f"{ODG_NAME} Neck section", "Neck and Upper Back (Acute & Chronic)"),
        (ODG, f"{ODG_NAME}, Forearm, Wrist, and hand (updated 11/23/16)",
         "Forearm, Wrist, & Hand (Acute & Chronic)"),
        (ODG, "ODG Head", "Head (trauma, headaches, etc., not including stress & mental disorders)"),
        (ODG, "ODG Mental Illness and Stress", "Mental Illness & Stress"),
        (ODG, f"{ODG_NAME}, Physical Medicine Guidelines", "Physical Therapy Guidelines"),
        (ODG, "ODG Chiropractic guidelines", "Chiropractic Guidelines"),
        (ODG, "ODG Workers' Comp Drug Formulary", "Workers' Comp Drug Formulary"),
    ],
)  # fmt: skip
def test_each_way_letters_name_a_chapter_reads_as_that_chapter(
    source: GuidelineSource, title: str, chapter: str
) -> None:
    assert chapters.read(source, title) == (chapter, title, None)


def test_a_numbered_editions_chapter_is_read_by_its_number_only_where_the_title_names_it() -> None:
    """ACOEM's 2nd edition (2004) numbers its chapters; a later edition numbers them otherwise."""
    title = (
        "American College of Occupational and Environmental Medicine (ACOEM), 2nd Edition, (2004), Chapter 3"
    )
    assert chapters.read(MTUS, title) == ("Initial Approaches to Treatment", title, None)
    assert chapters.read(ACOEM, "ACOEM 2004, Chapter 12") == (
        "Low Back Complaints",
        "ACOEM 2004, Chapter 12",
        None,
    )
    assert chapters.read(ACOEM, "ACOEM Guidelines, Chapter 12") is None  # which edition's 12th?
    assert chapters.read(ACOEM, "ACOEM 2004, Chapter 40") is None
    assert chapters.read(ODG, "ODG 2004, Chapter 3") is None


def test_a_chapter_is_one_of_its_own_sources() -> None:
    """ODG's "Low Back" is no MTUS chapter (the MTUS has two low back chapters), nor the MTUS's
    Chronic Pain Medical Treatment Guidelines an ODG one."""
    assert chapters.read(MTUS, "Low Back") is None
    assert chapters.names_unknown(MTUS, "Low Back")
    assert chapters.read(ODG, "ODG Chronic Pain Medical Treatment Guidelines") is None
    assert chapters.read(OTHER, "Low Back Complaints") is None
    assert chapters.read(None, None) is None


@pytest.mark.parametrize(
    ("source", "title", "kept", "chapter", "topic"),
    [
        (ODG, "ODG Pain (Chronic) \u2013 Opioids", "ODG Pain (Chronic)", "Pain (Chronic)", "Opioids"),
        (ODG, "ODG Pain (Chronic) Acupuncture", "ODG Pain (Chronic)", "Pain (Chronic)", "Acupuncture"),
        (ODG, f"{ODG_NAME}, Low Back & Thoracic chapter (Acute & Chronic), "
         "Preoperative testing, general", f"{ODG_NAME}, Low Back & Thoracic chapter "
         "(Acute & Chronic)", LOW_BACK, "Preoperative testing, general"),
        (ODG, "ODG Knee/ Transportation", "ODG Knee", "Knee & Leg (Acute & Chronic)", "Transportation"),
        (ODG, "ODG 2016 Shoulder Chapter: MR arthrogram", "ODG 2016 Shoulder Chapter",
         "Shoulder (Acute & Chronic)", "MR arthrogram"),
        (ODG, f"{ODG_NAME}, Knee {ODG_NAME}, Physical Therapy Guidelines", f"{ODG_NAME}, Knee",
         "Knee & Leg (Acute & Chronic)", f"{ODG_NAME}, Physical Therapy Guidelines"),  # a second one glued on
        (MTUS, "Chronic Pain Treatment Guidelines Massage therapy", "Chronic Pain Treatment Guidelines",
         CPMTG, "Massage therapy"),
        (ACOEM, "ACOEM Hip and Groin Chapter/Diagnostic and treatment recommendations",
         "ACOEM Hip and Groin Chapter", "Hip and Groin Disorders",
         "Diagnostic and treatment recommendations"),
    ],
)  # fmt: skip
def test_a_topic_after_the_chapter_goes_to_the_sections_whole(
    source: GuidelineSource, title: str, kept: str, chapter: str, topic: str
) -> None:
    read = chaptered(Guideline(source=source, title=title, sections=["Later"]))
    assert (read.title, read.chapter, read.sections) == (kept, chapter, [topic, "Later"])


def test_the_rules_pass_reads_the_chapter_and_topic_of_a_letters_citation() -> None:
    (guideline,) = parse_guidelines(
        "Decision based on Non-MTUS Citation Official Disability Guidelines (ODG), Pain (online version): "
        "Opioids, specific drug list, p 12."
    )
    assert guideline == Guideline(
        source=ODG,
        title=f"{ODG_NAME}, Pain (online version)",
        chapter="Pain (Chronic)",
        sections=["Opioids, specific drug list"],
        pages=[12],
    )
    first, second = parse_guidelines(
        "Decision based on MTUS Knee Complaints 2004, Section(s): Summary, and Chronic Pain Medical "
        "Treatment 2016, Section(s): Opioids, dosing."
    )
    assert (first.chapter, first.sections) == ("Knee Complaints", ["Summary"])
    assert (second.chapter, second.sections) == (CPMTG, ["Opioids, dosing"])


@pytest.mark.parametrize(
    ("source", "title"),
    [
        (ODG, "Official Disability Guidelines (ODG)"),
        (ACOEM, "ACOEM guidelines and the Official Disability Guidelines"),
        (MTUS, "MTUS"),
        (OTHER, "Centers for Medicare and Medicaid services"),
        (None, None),
    ],
)
def test_a_title_naming_only_its_source_has_no_chapter_and_no_doubt(
    source: GuidelineSource | None, title: str | None
) -> None:
    guideline = chaptered(Guideline(source=source, title=title))
    assert guideline.chapter is None
    assert not unknown_chapter(guideline)


@pytest.mark.parametrize(
    "title",
    [
        f"{ODG_NAME} Low Back and neck Chapter, Physical Therapy",  # two chapters
        f"{ODG_NAME} Spleen Chapter, Imaging",  # no such chapter
    ],
)
def test_a_chapter_the_vocabulary_does_not_know_is_null_and_doubted(title: str) -> None:
    guideline = chaptered(Guideline(source=ODG, title=title))
    assert (guideline.title, guideline.chapter, guideline.sections) == (title, None, [])
    assert unknown_chapter(guideline)


def test_the_rules_pass_flags_an_unknown_chapter_for_review() -> None:
    text = (
        "INDEPENDENT MEDICAL REVIEW\nCase Number: CM99-0000005\nDecision Date: 02/01/2017\n"
        "IMR ISSUES, DECISIONS AND RATIONALES:\nAbdominal CT: Upheld\n"
        "Claims Administrator guideline: Decision based on Non-MTUS Citation ODG, Hernia, Imaging.\n"
        "Reviewer guideline: Decision based on Non-MTUS Citation Official Disability Guidelines (ODG) "
        "Spleen Chapter, Imaging.\nDecision rationale: The request is not medically necessary.\n"
    )
    where = "determination.items[0].reviewer_guidelines"
    doubts = [d for d in extract_rules(text).doubts if d.field.endswith("_guidelines")]
    assert [(d.field, d.signal, d.reason) for d in doubts] == [(where, "unknown_chapter", UNKNOWN_CHAPTER)]
    record = extract(text, backend="rules")
    item = record.determination.items[0]
    assert [g.chapter for g in item.claims_administrator_guidelines] == ["Hernia"]
    assert [g.chapter for g in item.reviewer_guidelines] == [None]
    (flagged,) = [c for c in record.checks if c.field == where]
    assert flagged.review
    assert UNKNOWN_CHAPTER in (flagged.note or "")


@pytest.mark.parametrize(
    "written",
    [
        Guideline(source=ODG, title=f"{ODG_NAME} Low Back Chapter, Heat therapy"),
        Guideline(source=ODG, title=f"{ODG_NAME} Low Back Chapter", sections=["Heat therapy"]),
    ],
)  # fmt: skip
def test_the_llm_pass_reads_a_models_citation_as_the_letters(written: Guideline) -> None:
    """However the model divides title and topic, the citation has the letter's form."""
    (letter,) = parse_guidelines(
        f"Decision based on Non-MTUS Citation {ODG_NAME} Low Back Chapter, Heat therapy"
    )
    assert canonical([written]) == [letter]
    assert letter.chapter == LOW_BACK


def test_the_model_is_not_asked_for_a_chapter_and_its_item_gets_one() -> None:
    """The chapter is read after the answer, so the JSON Schema sent (and every cassette) stays."""
    assert "chapter" not in json.dumps(drafts.ItemDraft.model_json_schema())
    answer = drafts.ItemDraft.model_validate(
        {
            "request": "MRI of the right shoulder",
            "decision": "Upheld",
            "original_request": None,
            "category": "imaging",
            "authorized": None,
            "claims_administrator_guidelines": [
                {"source": "MTUS", "title": "Shoulder Complaints 2004", "sections": [], "pages": []}
            ],
            "reviewer_guidelines": [],
        }
    )
    (cited,) = answer.to_item().claims_administrator_guidelines
    assert type(cited) is Guideline
    assert (cited.title, cited.chapter) == ("Shoulder Complaints 2004", "Shoulder Complaints")
