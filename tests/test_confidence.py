"""Confidence: each doubt signal lowers its value below the threshold, and only where it fires.

Every signal is tried on a letter written for the test twice, with and without what fires it,
so removing the signal fails the test. The signals are scored against an empty calibration
(the priors: a field's value 0.95, a doubted one even odds), so a refit of the shipped rates
never changes what these tests mean; the end-to-end tests use the shipped calibration.
"""

from __future__ import annotations

import pytest

from evals.scoring import Judged
from evals.trust import TrustCount, calibration_error, fit, reliability, threshold_sweep
from extractor import extract
from extractor.confidence import THRESHOLD, Calibration, Doubt, Rate, confidence, flag_doubts, settle
from extractor.fields import path, value_paths
from extractor.rules import extract_rules
from extractor.schemas import Check, Determination
from tests.documents import require_letter

HEADER = """Case Number: CM99-0000001
Date Assigned: 02/21/2017
Decision Date: 02/24/2017 UR Denial Date: 02/14/2017
Priority: Standard Application
Received: 02/17/2017
HOW THE IMR FINAL DETERMINATION WAS MADE
MAXIMUS Federal Services sent the complete case file to an expert reviewer.
The Expert Reviewer has the following credentials:
State(s) of Licensure: California
Certification(s)/Specialty: Orthopedic Surgery
CLINICAL CASE SUMMARY
The expert reviewer developed the following clinical case summary based on a review of the
case file, including all medical records:
"""
DECISIONS = """IMR ISSUES, DECISIONS AND RATIONALES
The Final Determination was based on decisions for the disputed items/services set forth below:
"""
MTUS = "MTUS Chronic Pain Medical Treatment Guidelines Page(s): 22."


def item(request: str, decision: str = "Upheld", rationale: str = "", guideline: str = MTUS) -> str:
    ending = "is not medically necessary." if decision == "Upheld" else "is medically necessary."
    return (
        f"{request}: {decision}\n"
        f"Claims Administrator guideline: Decision based on {guideline}\n"
        f"MAXIMUS guideline: Decision based on {guideline}\n"
        f"Decision rationale: {rationale or 'The guidelines were reviewed.'} "
        f"The request for {request} {ending}\n"
    )


SUMMARY = (
    "The injured worker is a 45 year old male who was injured on 3/4/15. The mechanism of injury "
    "was lifting a box. The diagnoses include lumbar strain and right knee sprain.\n"
)


def letter(summary: str = SUMMARY, items: str = "") -> str:
    return HEADER + summary + DECISIONS + (items or item("MRI of the lumbar spine"))


def scores(text: str) -> tuple[dict[str, float], list[Doubt]]:
    """Each value's confidence under the priors alone, and the doubts the rules pass found."""
    rules = extract_rules(text)
    paths = value_paths(rules.determination)
    return confidence(paths, rules.doubts, table=Calibration()), list(rules.doubts)


def doubted(text: str, where: str) -> tuple[float, list[str]]:
    found, doubts = scores(text)
    return found[where], [d.signal for d in doubts if d.field == where]


FRAMED = "The injured worker is a 45 year old male. The diagnoses include diagnoses of lumbar strain.\n"
DIAGNOSES = path("patient", "diagnoses")
MECHANISM = path("patient", "mechanism_of_injury")
REGIONS = path("patient", "body_regions")


def test_a_plain_letter_is_confident() -> None:
    found, doubts = scores(letter())
    assert doubts == []
    assert min(found.values()) >= THRESHOLD


@pytest.mark.parametrize(
    ("diagnoses", "signal"),
    [
        ("lumbar strain, sprain of ligaments, left ankle and foot", "diagnosis_place_only"),
        ("diagnoses of lumbar strain and right knee sprain", "diagnosis_frame_words"),
        ("lumbar strain, with radiculopathy", "diagnosis_continuation"),
        (
            "chronic lumbar strain with multilevel disc protrusions at three levels status post "
            "fusion without improvement",
            "diagnosis_long",
        ),
    ],
)
def test_a_diagnosis_list_cut_in_the_wrong_place_is_doubtful(diagnoses: str, signal: str) -> None:
    summary = f"The injured worker is a 45 year old male. The diagnoses include {diagnoses}.\n"
    score, signals = doubted(letter(summary), DIAGNOSES)
    assert signal in signals
    assert score < THRESHOLD
    plain = "The injured worker is a 45 year old male. The diagnoses include lumbar strain.\n"
    assert doubted(letter(plain), DIAGNOSES) == (pytest.approx(0.95), [])


def test_two_mechanism_statements_are_doubtful() -> None:
    two = (
        "The injured worker is a 45 year old male who was injured when he slipped on a wet floor. "
        "He also reported pain that started after lifting a pallet. The diagnoses include lumbar strain.\n"
    )
    score, signals = doubted(letter(two), MECHANISM)
    assert "mechanism_several" in signals
    assert score < THRESHOLD
    assert doubted(letter(), MECHANISM) == (pytest.approx(0.95), [])  # a stated mechanism


def test_no_mechanism_where_the_summary_tells_of_an_accident_is_doubtful() -> None:
    told = (
        "The injured worker is a 45 year old male with neck pain since a rear-end collision. "
        "The diagnoses include cervical strain.\n"
    )
    score, signals = doubted(letter(told), MECHANISM)
    assert "mechanism_none_but_event" in signals
    assert score < THRESHOLD
    quiet = "The injured worker is a 45 year old male. The diagnoses include cervical strain.\n"
    assert doubted(letter(quiet), MECHANISM) == (pytest.approx(0.95), [])


def test_a_diagnosis_naming_no_known_region_is_doubtful() -> None:
    unknown = "The injured worker is a 45 year old male. The diagnoses include scapulothoracic syndrome.\n"
    score, signals = doubted(letter(unknown), REGIONS)
    assert "regions_unknown_word" in signals
    assert score < THRESHOLD
    known = "The injured worker is a 45 year old male. The diagnoses include shoulder impingement.\n"
    assert doubted(letter(known), REGIONS) == (pytest.approx(0.95), [])
    nowhere = "The injured worker is a 45 year old male. The diagnoses include chronic pain syndrome.\n"
    assert doubted(letter(nowhere), REGIONS) == (pytest.approx(0.95), [])  # no part of the body named


def test_regions_read_only_from_complaints_are_doubtful() -> None:
    """A region no diagnosis names is read from a sentence of complaint: in the record, doubted."""
    outside = (
        "The injured worker is a 45 year old male who complains of neck pain. "
        "The diagnoses include lumbar strain.\n"
    )
    regions = extract_rules(letter(outside)).determination.patient.body_regions
    assert [r.region.value for r in regions] == ["cervical_spine", "lumbar_spine"]
    score, signals = doubted(letter(outside), REGIONS)
    assert "regions_outside_diagnoses" in signals
    assert score < THRESHOLD
    radiating = (
        "The injured worker is a 45 year old male with low back pain radiating to the left leg. "
        "The diagnoses include lumbar strain.\n"
    )
    assert doubted(letter(radiating), REGIONS) == (pytest.approx(0.95), [])


CATEGORY = path("items", 0, "category")


@pytest.mark.parametrize(
    ("heading", "signal", "plain"),
    [
        # a heading that names two services: a device and a drug's strength
        ("TENS unit with Lidoderm 5% patches", "category_near_tie", "TENS unit"),
        (
            "Pre-operative labs: EMG of the bilateral upper extremities",
            "category_frame",
            "Pre-operative labs",
        ),
        # a therapy modality, read as imaging
        ("Phonophoresis/ultrasound 3x4", "category_sessions", "Ultrasound of the right shoulder"),
    ],
)
def test_a_category_read_in_a_doubtful_way_is_doubtful(heading: str, signal: str, plain: str) -> None:
    score, signals = doubted(letter(items=item(heading)), CATEGORY)
    assert signal in signals
    assert score < THRESHOLD
    assert doubted(letter(items=item(plain)), CATEGORY) == (pytest.approx(0.95), [])


def test_a_category_against_the_guidelines_cited_is_doubtful() -> None:
    against = item(
        "Spinal cord stimulator trial", guideline="MTUS Chronic Pain, Section(s): Physical Medicine."
    )
    score, signals = doubted(letter(items=against), CATEGORY)
    assert "category_against_guidelines" in signals
    assert score < THRESHOLD


def test_a_decision_the_rationale_contradicts_is_doubtful() -> None:
    contradicted = (
        "MRI of the lumbar spine: Overturned\n"
        f"Claims Administrator guideline: Decision based on {MTUS}\n"
        f"MAXIMUS guideline: Decision based on {MTUS}\n"
        "Decision rationale: There are no red flags. The request for an MRI is not medically necessary.\n"
    )
    where = path("items", 0, "decision")
    score, signals = doubted(letter(items=contradicted), where)
    assert signals == ["decision_against_rationale"]
    assert score < THRESHOLD
    assert doubted(letter(items=item("MRI of the lumbar spine", "Overturned")), where)[1] == []


def test_an_associated_service_among_several_surgeries_is_doubtful() -> None:
    items = (
        item("Right knee arthroscopy")
        + item("Left shoulder arthroscopy")
        + item("Associated surgical service: post-operative physical therapy")
    )
    where = path("items", 2, "depends_on")
    score, signals = doubted(letter(items=items), where)
    assert signals == ["depends_on_several"]
    assert score < THRESHOLD
    one = item("Right knee arthroscopy") + item(
        "Associated surgical service: post-operative physical therapy"
    )
    assert doubted(letter(items=one), path("items", 1, "depends_on"))[1] == []


def test_a_retrospective_item_without_its_date_is_doubtful() -> None:
    where = path("items", 0, "date_of_service")
    score, signals = doubted(letter(items=item("Retrospective request for a urine drug screen")), where)
    assert signals == ["service_date_missing"]
    assert score < THRESHOLD
    dated = item("Retrospective request for a urine drug screen (DOS 1/5/17)")
    assert doubted(letter(items=dated), where)[1] == []


# --------------------------------------------------------------------------- the record


def test_a_flag_is_a_check_with_its_reason_and_the_record_needs_review() -> None:
    text = letter(
        "The injured worker is a 45 year old male. The diagnoses include diagnoses of lumbar strain.\n"
    )
    record = extract(text)
    assert record.confidence[DIAGNOSES] < THRESHOLD
    flagged = [check for check in record.checks if check.field == DIAGNOSES]
    assert len(flagged) == 1
    assert flagged[0].review
    assert "'diagnoses of lumbar strain' holds the words of its statement" in (flagged[0].note or "")
    assert record.needs_review
    assert set(record.confidence) == set(value_paths(record.determination))


def test_the_quick_start_letters_misread_diagnosis_is_flagged() -> None:
    record = extract(require_letter("letters/CM16-0213037.pdf"))
    assert record.determination.patient.diagnoses[0] == "diagnoses of right shoulder contusion"
    assert record.confidence[DIAGNOSES] < THRESHOLD
    assert any(check.field == DIAGNOSES and check.review for check in record.checks)


def test_agreement_of_an_independent_reading_lifts_a_doubt() -> None:
    doubt = Doubt(DIAGNOSES, "diagnosis_long", "long")
    agreed = Check(field=DIAGNOSES, rules=["a"], llm=["a"], status="agree")
    table = Calibration(agreed={"patient.diagnoses": Rate(40, 40)})
    assert confidence([DIAGNOSES], [doubt], table=table)[DIAGNOSES] == 0.5
    lifted = confidence([DIAGNOSES], [doubt], [agreed], table=table)[DIAGNOSES]
    assert lifted >= THRESHOLD
    assert flag_doubts([agreed], [doubt], {DIAGNOSES: lifted}, "rules_only") == [agreed]
    (doubted,) = flag_doubts([agreed], [doubt], {DIAGNOSES: 0.5}, "rules_only")
    assert (doubted.status, doubted.review, doubted.note) == ("agree", True, "doubtful (0.50): long")


def test_an_agreement_through_the_same_grammar_settles_nothing() -> None:
    split = Doubt(DIAGNOSES, "diagnosis_place_only", "split", confirmable=False)
    agreed = Check(field=DIAGNOSES, rules=["a"], llm=["a"], status="agree")
    table = Calibration(agreed={"patient.diagnoses": Rate(40, 40)})
    assert confidence([DIAGNOSES], [split], [agreed], table=table)[DIAGNOSES] == 0.5


def test_a_signal_right_often_on_labelled_letters_stops_flagging() -> None:
    doubt = Doubt(MECHANISM, "mechanism_clause", "clause")
    often = Calibration(signals={"mechanism_clause": Rate(60, 60, (1.0, 1.0))})
    assert confidence([MECHANISM], [doubt], table=often)[MECHANISM] >= THRESHOLD
    assert confidence([MECHANISM], [doubt], table=Calibration())[MECHANISM] == 0.5


# --------------------------------------------------------------------------- fit and figures


def test_fit_counts_signals_and_undoubted_fields_against_labels() -> None:
    rules = extract_rules(
        letter(
            "The injured worker is a 45 year old male. The diagnoses include diagnoses of lumbar strain.\n"
        )
    )
    label = Determination.model_validate({"patient": {"diagnoses": ["lumbar strain"], "age": 45}})
    table = fit([(label, rules.determination, rules.doubts)])
    assert table.signals["diagnosis_frame_words"].as_dict() == {"right": 0, "total": 1}
    assert table.fields["patient.age"].as_dict() == {"right": 1, "total": 1}
    assert "patient.diagnoses" not in table.fields  # doubted values count for their signal only


def judged(confidence: float, flagged: bool, right: bool) -> Judged:
    return Judged("patient.age", "determination.patient.age", confidence, flagged, right)


def test_trust_figures() -> None:
    values = [judged(0.95, False, True)] * 8 + [judged(0.95, False, False), judged(0.5, True, False)]
    count = TrustCount.of(values)
    assert (count.values, count.wrong, count.flagged, count.caught) == (10, 2, 1, 1)
    assert count.accepted_accuracy == pytest.approx(8 / 9)
    assert count.catch_rate == pytest.approx(0.5)
    bins = {f"{b.low:.2f}": b for b in reliability(values)}
    assert bins["0.95"].values == 9
    assert bins["0.95"].accuracy == pytest.approx(8 / 9)
    assert bins["0.50"].values == 1
    assert bins["0.50"].accuracy == 0.0
    expected = (9 * abs(8 / 9 - 0.95) + 1 * 0.5) / 10
    assert calibration_error(reliability(values)) == pytest.approx(expected)


def test_a_disagreement_the_rules_value_wins_on_labelled_letters_stays_in_sight_unflagged() -> None:
    where = path("items", 0, "reviewer_guidelines")
    contest = Check(field=where, rules=[], llm=[], status="disagree", review=True)
    often = Calibration(disagreed={"items[].reviewer_guidelines": Rate(40, 40, (1.0, 1.0))})
    scores = confidence([where], [], [contest], table=often)
    assert scores[where] >= THRESHOLD
    (settled,) = settle([contest], scores)
    assert (settled.status, settled.review) == ("disagree", False)
    assert "the rules value stands" in (settled.note or "")
    seldom = confidence([where], [], [contest], table=Calibration())
    assert seldom[where] == 0.5
    assert settle([contest], seldom) == [contest]


def test_a_field_the_rules_could_not_read_stays_flagged_whatever_the_llm_filled() -> None:
    filled = Check(field=MECHANISM, llm="fell", status="llm_only", review=True, note="not read")
    often = Calibration(disagreed={"patient.mechanism_of_injury": Rate(40, 40, (1.0, 1.0))})
    scores = confidence([MECHANISM], [], [filled], table=often)
    assert settle([filled], scores, unread=[MECHANISM]) == [filled]
    assert settle([filled], scores)[0].review is False


def test_a_threshold_sweep_counts_what_each_threshold_catches_and_costs() -> None:
    first = [judged(0.95, False, True), judged(0.6, True, False)]
    second = [judged(0.8, True, True)]
    rows = {row["threshold"]: row for row in threshold_sweep([first, second], (0.5, 0.7, 0.9))}
    assert (rows[0.5]["caught"], rows[0.5]["values_below"], rows[0.5]["letters_below"]) == (0, 0, 0)
    assert (rows[0.7]["caught"], rows[0.7]["values_below"], rows[0.7]["letters_below"]) == (1, 1, 1)
    assert (rows[0.9]["caught"], rows[0.9]["values_below"], rows[0.9]["letters_below"]) == (1, 2, 2)
    assert rows[0.9]["wrong"] == 1
