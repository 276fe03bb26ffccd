"""Records that would be silently wrong are flagged: cut letters, several letters, invented dates.

Every damaged input is built here from the shared letters (cut text, PDFs joined with pypdf);
nothing of a letter's text is written into an assertion or a message.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium

from extractor import extract
from extractor.grounding import NOT_FOUND
from extractor.layout import item_blocks, lay_out, split_sections
from extractor.llm import LLMConfig
from extractor.reading import read_path
from extractor.schemas import Record
from extractor.wholeness import cut_off, several_letters
from support.fake_openai import FakeOpenAI, Received, Step, asked, completion, perfect_arguments, respond
from tests.documents import require_letter, shared_root

MANY_ITEMS = "letters/CM16-0248698.pdf"
"""21 items: room to cut between, inside and after them."""
CUT = "the letter looks cut off"


def letter_text(name: str = MANY_ITEMS) -> str:
    return read_path(require_letter(name)).text


def cut_notes(record: Record) -> list[str]:
    return [check.note for check in record.checks if check.note and check.note.startswith(CUT)]


def test_every_shared_letter_ends_as_letters_end() -> None:
    """No false alarm: all 55 shared letters are whole, single letters."""
    root = shared_root()
    paths = sorted((root / "letters").glob("*.pdf")) + sorted((root / "seeds").glob("*.txt"))
    assert len(paths) == 55
    for path in paths:
        text = read_path(path).text
        assert cut_off(text, lay_out(text)) is None, path.name
        assert several_letters(text) is None, path.name


def test_a_letter_cut_mid_word_in_an_item_is_flagged() -> None:
    text = letter_text()
    blocks = item_blocks(text, split_sections(text).parts["decisions"])
    middle = blocks[10]
    inside_word = next(m.start() + 2 for m in re.finditer(r"\w{6,}", text[middle.decision[1] : middle.end]))
    record = extract(text[: middle.decision[1] + inside_word])
    assert len(record.determination.items) == 11  # fewer items than the letter has: the reason to flag
    assert record.needs_review
    assert cut_notes(record) == [f"{CUT}: its text stops mid-sentence"]


def test_a_letter_cut_right_after_its_first_decision_is_flagged() -> None:
    text = letter_text()
    first = item_blocks(text, split_sections(text).parts["decisions"])[0]
    record = extract(text[: first.decision[1]] + ".")  # even with a full stop after the decision word
    assert len(record.determination.items) == 1
    assert record.needs_review
    assert cut_notes(record) == [f"{CUT}: its last item has no decision rationale"]


def test_a_letter_cut_at_a_sentence_end_before_its_verdict_is_flagged() -> None:
    text = letter_text()
    last = item_blocks(text, split_sections(text).parts["decisions"])[-1]
    rationale = text.index("rationale:", last.decision[1]) + len("rationale:")
    first_sentence = text.index(". ", rationale) + 1
    record = extract(text[:first_sentence])
    assert record.needs_review
    assert cut_notes(record) == [f"{CUT}: its last item's rationale stops before its verdict"]


def test_random_cuts_inside_the_decisions_are_errors_or_flagged() -> None:
    """Fifty cuts spread over one letter's decisions: each a typed error or a flagged record,
    except a cut that falls exactly where an item ends (nothing in the text can tell)."""
    from extractor.errors import ExtractionError

    text = letter_text()
    start, end = split_sections(text).parts["decisions"]
    item_ends = {block.end for block in item_blocks(text, (start, end))}
    for cut in range(start + 1, end - 1, (end - start) // 50):
        piece = text[:cut]
        try:
            record = extract(piece)
        except ExtractionError:
            continue
        assert cut_notes(record) or len(piece.rstrip()) + 1 in item_ends, cut


def joined_pdf(paths: list[Path]) -> bytes:
    """One PDF of every page of ``paths``, in order.

    pdfium, not pypdf: the shared letters are AES-encrypted (with an empty password), which
    pypdf reads only with the cryptography package, a dependency this project does not have.
    """
    joined = pdfium.PdfDocument.new()
    for path in paths:
        letter = pdfium.PdfDocument(path)
        joined.import_pages(letter)
        letter.close()
    out = io.BytesIO()
    joined.save(out)
    joined.close()
    return out.getvalue()


def test_a_pdf_of_a_hundred_letters_is_flagged_with_their_case_numbers(tmp_path: Path) -> None:
    letters = sorted((shared_root() / "letters").glob("*.pdf"))
    path = tmp_path / "bundle.pdf"
    path.write_bytes(joined_pdf(letters + letters))
    record = extract(path)
    assert record.document.pages is not None
    assert record.document.pages >= 100
    assert record.needs_review
    (note,) = [c.note for c in record.checks if c.note and "letters in one document" in c.note]
    first_ten = ", ".join(p.stem for p in letters[:10])
    assert note.startswith(f"100 letters in one document (case numbers {first_ten} and 40 more)")


def test_two_letters_in_one_text_are_flagged() -> None:
    record = extract(letter_text("letters/CM16-0213037.pdf") + "\n" + letter_text("letters/CM16-0219557.pdf"))
    assert record.needs_review
    assert any(
        c.note and c.note.startswith("2 letters in one document (case numbers CM16-0213037, CM16-0219557)")
        for c in record.checks
    )


# --------------------------------------------------------------------------- dates the LLM invents

YEAR_3000 = {
    "date_of_injury": "3000-01-02",
    "ur_denial_date": "3000-02-03",
    "application_received": "3000-02-04",
    "date_assigned": "3000-02-05",
    "decision_date": "3000-03-06",
}


INVENTED_AGE = 117
INVENTED_STATE = "WY"


def in_year_3000(received: Received) -> Step:
    """A model that reads everything right but dates every event in the year 3000, makes the
    patient 117 and adds a state the letter never names."""
    answer: dict[str, Any] = json.loads(perfect_arguments(received.json))
    kind = asked(received.json)
    if kind == "Header":
        answer["case"].update(YEAR_3000)
        answer["reviewer"]["licensure_states"].append(INVENTED_STATE)
    elif kind == "Patient":
        answer["age"] = INVENTED_AGE
    return completion(answer)


def llm_record(endpoint: FakeOpenAI, letter: str) -> Record:
    config = LLMConfig(base_url=endpoint.base_url, api_key="sk-test-dates", model="test-model", timeout=30)
    return extract(letter, backend="llm", llm_config=config)


def test_llm_dates_ages_and_states_not_in_the_letter_are_flagged() -> None:
    letter = require_letter("letters/CM16-0213037.pdf")
    with FakeOpenAI(default=respond(in_year_3000)) as endpoint:
        record = llm_record(endpoint, str(letter))
    assert record.determination.case.decision_date is not None
    assert record.determination.case.decision_date.year == 3000
    assert record.needs_review
    flagged = {c.field: c for c in record.checks if c.note == NOT_FOUND}
    for name, written in YEAR_3000.items():
        assert flagged[f"determination.case.{name}"].llm == written
        assert f"determination.case.{name}" not in record.evidence
    assert flagged["determination.patient.age"].llm == INVENTED_AGE
    states = record.determination.reviewer.licensure_states
    invented = f"determination.reviewer.licensure_states[{len(states) - 1}]"
    assert flagged[invented].llm == INVENTED_STATE
    assert len(flagged) == len(YEAR_3000) + 2  # the states the letter names are grounded


def test_llm_values_the_letter_writes_are_grounded() -> None:
    from support.fake_openai import perfect

    letter = require_letter("letters/CM16-0213037.pdf")
    with FakeOpenAI(default=perfect) as endpoint:
        record = llm_record(endpoint, str(letter))
    assert not [c for c in record.checks if c.note == NOT_FOUND]
    for field in ("case.decision_date", "patient.age", "reviewer.licensure_states[0]"):
        assert record.evidence[f"determination.{field}"]
