"""Diagnoses and mechanism of injury from a case summary, on summaries written for this test.

None of these sentences is copied from a letter: they are the statement forms letters use
("diagnosed with", "The diagnoses include", "undergoing treatment for", "The mechanism of
injury is detailed as", "injured on <date> when ..."), each with what evals/LABELLING.md says
the entries are.
"""

from __future__ import annotations

import pytest

from extractor import extract
from extractor.rules import NO_SUMMARY, extract_rules
from extractor.rules.clinical import extract_diagnoses, extract_mechanism
from extractor.rules.evidence import Evidence

DIAGNOSES = [
    ("He has been diagnosed with knee strain, ankle sprain and plantar fasciitis.",
     ["knee strain", "ankle sprain", "plantar fasciitis"]),
    ("The diagnoses include tendinitis of the left wrist and carpal tunnel syndrome. She works.",
     ["tendinitis of the left wrist", "carpal tunnel syndrome"]),
    ("The worker was being treated for a right elbow sprain.", ["right elbow sprain"]),
    ("The worker is undergoing treatment for cervical and lumbar spine strain, head contusion, "
     "and thoracic sprain.", ["cervical and lumbar spine strain", "head contusion", "thoracic sprain"]),
    ("The current diagnosis is documented as neck, back and shoulder pain.",
     ["neck, back and shoulder pain"]),
    ("The injured worker was diagnosed as having strain of muscle, fascia and tendon of the lower "
     "back, subsequent encounter, left knee effusion and insomnia.",
     ["strain of muscle, fascia and tendon of the lower back, subsequent encounter", "left knee effusion",
      "insomnia"]),
    ("Records show diagnoses that include dorsalgia, unspecified; muscle spasm; radiculopathy, "
     "lumbar region.", ["dorsalgia, unspecified", "muscle spasm", "radiculopathy, lumbar region"]),
    ("He is being treated for bruising of the upper back and pelvis initial encounter and "
     "bruising of the right knee.",
     ["bruising of the upper back and pelvis initial encounter", "bruising of the right knee"]),
    ("She has been treated for hip bursitis and hip arthritis with medications and rest.",
     ["hip bursitis", "hip arthritis"]),
    ("Assessment included lumbar disc bulge L3-L4, L4-L5 stenosis and a history of gout.",
     ["lumbar disc bulge L3-L4", "L4-L5 stenosis", "a history of gout"]),
    ("The provider gave a diagnosis of \"thumb sprain.\" Work status was modified.", ["thumb sprain"]),
    ("The worker is 40 years old. Treatment has included therapy.", []),
]  # fmt: skip

MECHANISMS = [
    ("The mechanism of injury is detailed as a slip on ice.", "slip on ice"),
    ("Mechanism of injury occurred when the worker was struck by a forklift.", "struck by a forklift"),
    ("The mechanism of injury was repetitive typing. He has pain.", "repetitive typing"),
    ("Mechanism of injury is unclear. He has pain.", None),
    ("She was injured on 2/3/2015 when she tripped over a hose and landed on her knee.",
     "tripped over a hose"),
    ("He sustained an industrial injury on 4-5-2016 while carrying a ladder.", "carrying a ladder"),
    ("He sustained an industrial injury on 4-5-2016 when he suffered a fracture.", None),
    ("The worker reported shoulder pain after reaching for a shelf.", "reaching for a shelf"),
    ("He had a work injury dated 1/2/10 after a fall from a roof. He has pain.", "fall from a roof"),
    ("She was seen in the clinic after she slipped on a wet floor.", "slipped on a wet floor"),
    ("The worker is 40 years old with back pain.", None),
    # the statement, in its other wordings
    ("The mechanism of injury was noted to be a fall from a scaffold.", "fall from a scaffold"),
    ("Mechanism of injury: lifting a compressor onto a cart.", "lifting a compressor onto a cart"),
    ("The reported mechanism of injury involved pulling a pallet jack.", "pulling a pallet jack"),
    ("MOI was described as being struck by a falling crate.", "being struck by a falling crate"),
    ("The mechanism of injury was repetitive lifting of boxes; pain is constant and aching.",
     "repetitive lifting of boxes"),
    # a statement that opens on what the worker felt: what he was doing is the mechanism
    ("The mechanism of injury occurred when she felt a sudden, stabbing pain in her low back while"
     " lifting a resident.", "lifting a resident"),
    ("Mechanism of injury: he noticed tingling in both hands after typing reports for months.",
     "typing reports for months"),
    ("The mechanism of injury was a lumbar sprain from pushing a laundry cart.", "pushing a laundry cart"),
    ("The mechanism of injuries resulted from repetitive stocking of shelves.",
     "repetitive stocking of shelves"),
    # a clause tied to the injury
    ("She sustained an industrial injury on 3/3/2016 due to repetitive keyboard use.",
     "repetitive keyboard use"),
    ("He sustained injuries to his back as a result of a collision with a forklift.",
     "collision with a forklift"),
    ("The worker reports an injury to the left wrist secondary to repetitive gripping of tools.",
     "repetitive gripping of tools"),
    ("He sustained an industrial injury from repetitive overhead work.", "repetitive overhead work"),
    ("The employee was injured in a motor vehicle accident on 5/6/2015.", "motor vehicle accident"),
    ("The injury was attributed to repetitive bending at a sorting line.",
     "repetitive bending at a sorting line"),
    ("The injury was caused by a falling box.", "falling box"),
    ("He injured his knee when he stepped off a curb.", "stepped off a curb"),
    ("The injury happened following a fall down a flight of stairs.", "fall down a flight of stairs"),
    ("The injury occurred when she was rear-ended at a stop light while driving a delivery van.",
     "rear-ended at a stop light"),
    ("She was injured on 7/8/2016 while restraining a combative patient and developed shoulder pain.",
     "restraining a combative patient"),
    ("She was injured on 1/2/2016 while working as a nurse when she slipped on a spilled drink.",
     "slipped on a spilled drink"),
    ("Records show a work injury in January 2016 after he was struck by a door.", "struck by a door"),
    # the onset of the pain, and what the worker was doing when it started
    ("He reported neck pain that began while unloading a delivery truck the day before.",
     "unloading a delivery truck"),
    ("Her symptoms started after she tripped over a cord.", "tripped over a cord"),
    ("She developed wrist pain after sorting mail for 3 weeks.", "sorting mail for 3 weeks"),
    ("He was carrying a bucket of paint when he felt a pop in his knee.", "carrying a bucket of paint"),
    ("While stacking chairs, she felt sharp pain in her lower back.", "stacking chairs"),
    ("The patient reportedly fell from a step stool.", "fell from a step stool"),
    # the kind of injury
    ("She has a cumulative trauma claim for both wrists.", "cumulative trauma"),
    ("He filed a claim for continuous trauma to the neck from 2010 to 2015.", "continuous trauma"),
    # none stated, or only a complaint, a diagnosis, a job or an aggravating activity
    ("The mechanism of injury was not clearly documented.", None),
    ("No specific mechanism of injury was described.", None),
    ("The mechanism of injury is unspecified in the records.", None),
    ("The injured worker reports pain while sitting.", None),
    ("He complains of knee pain when climbing stairs.", None),
    ("She sustained an industrial injury on 4/4/2016 and was diagnosed with a wrist sprain.", None),
    ("He was injured while working as a warehouse clerk.", None),
    ("She sustained an industrial injury on 2/2/2016 when she developed anxiety.", None),
    ("The worker was taking ibuprofen when he noticed stomach upset.", None),
    ("Pain began on 5/5/2015 in the lower back.", None),
    ("The injured worker has neck pain secondary to cervical disc disease.", None),
    ("He has been off work since the injury and his pain is worse after sitting.", None),
    ("His back pain increases after walking for an hour.", None),
    ("The patient is a 50 year old male with a date of injury of 1/1/2015.", None),
    ("He has had a continuous course of treatment since the injury.", None),
]  # fmt: skip


def _summary(sentence: str) -> tuple[str, tuple[int, int]]:
    text = f"CLINICAL CASE SUMMARY:\n{sentence}\n"
    return text, (len("CLINICAL CASE SUMMARY:\n"), len(text))


@pytest.mark.parametrize(("sentence", "expected"), DIAGNOSES)
def test_diagnoses_one_entry_each_with_evidence(sentence: str, expected: list[str]) -> None:
    text, summary = _summary(sentence)
    evidence = Evidence()
    got, reading = extract_diagnoses(text, summary, evidence)
    assert got == expected
    assert reading.read
    spans = evidence.fields()
    for index, value in enumerate(got):
        (start, end), *_ = spans[f"determination.patient.diagnoses[{index}]"]
        assert " ".join(text[start:end].split()) == value


@pytest.mark.parametrize(("sentence", "expected"), MECHANISMS)
def test_mechanism_as_a_short_phrase(sentence: str, expected: str | None) -> None:
    text, summary = _summary(sentence)
    evidence = Evidence()
    got, reading = extract_mechanism(text, summary, evidence)
    assert (got, reading.read) == (expected, True)
    if got is not None:
        (start, end), *_ = evidence.fields()["determination.patient.mechanism_of_injury"]
        assert text[start:end] == got


def test_a_stated_mechanism_that_is_only_what_the_worker_felt_is_not_read() -> None:
    text, summary = _summary("The mechanism of injury was that he felt a pop in his knee. He limps.")
    got, reading = extract_mechanism(text, summary, Evidence())
    assert got is None
    assert not reading.read
    assert reading.note == "not read: the mechanism stated is what the worker felt"


def test_a_diagnosis_in_an_unread_wording_is_not_read_not_empty() -> None:
    text, summary = _summary("Diagnostic codes were listed but the diagnosis remained uncertain.")
    got, reading = extract_diagnoses(text, summary, Evidence())
    assert got == []
    assert not reading.read
    assert (reading.note or "").startswith("not read")


def test_a_letter_without_a_summary_says_not_read() -> None:
    text = "INDEPENDENT MEDICAL REVIEW\nIMR ISSUES, DECISIONS AND RATIONALES:\nMRI of the knee: Upheld\n"
    rules = extract_rules(text)
    notes = {check.field: check.note for check in rules.checks}
    assert notes == {
        "determination.patient.diagnoses": NO_SUMMARY,
        "determination.patient.mechanism_of_injury": NO_SUMMARY,
    }
    record = extract(text, backend="rules")
    assert record.needs_review
    assert {c.field for c in record.checks} >= set(notes)
