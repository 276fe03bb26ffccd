"""The review page in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

It opens the queue of a small batch, opens a letter, checks that the evidence box drawn for a
decision lies over that word on the rendered page, walks the keys, edits a category and
checks reviews.jsonl and ``export --reviewed``; then the review flow: the queue ordered by the
least confident value and filtered by reason, field and confidence, the letter opened on its
first flag, ``n``/``p`` over every flag, accepting a value, taking the LLM's reading, undo,
the keys that save, the evidence box following an edit, and a letter found by its sha256.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from extractor.cli import main
from extractor.reading import read_path
from extractor.review.batch import read_batch
from extractor.review.fields import field_views, flags, reason_kinds
from extractor.schemas import Record
from support.review_server import serving
from tests.review_batch import make_batch

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("batch"))


@pytest.fixture(scope="module")
def browser(made: Path) -> Iterator[Browser]:
    """Chromium, started after the batch is made (the batch's asyncio.run cannot run inside
    Playwright's event loop)."""
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


SEED = "000_bcbad93b04dfc64b"
LEAST = 0.3
"""The seed record's least confident value, set below the others' so the queue puts it first
although it is last by path and has no disagreement."""


@pytest.fixture
def records(made: Path, tmp_path: Path) -> Path:
    """The batch, with a disagreement on the first item's category as the hybrid backend writes
    one, and the seed's diagnoses made the least confident value of the batch."""
    path = tmp_path / "out" / "records.jsonl"
    path.parent.mkdir()
    lines = made.read_text(encoding="utf-8").splitlines()
    data = [json.loads(line) for line in lines]
    for record in data:
        if record["document"]["id"] == "CM16-0213037":
            rules = record["determination"]["items"][0]["category"]
            check = {"field": "determination.items[0].category", "rules": rules, "llm": "medication"}
            record["checks"].append({**check, "status": "disagree", "review": True, "note": None})
            record["needs_review"] = True
        if record["document"]["id"] == SEED:
            record["confidence"]["determination.patient.diagnoses"] = LEAST
    path.write_text("".join(json.dumps(record) + "\n" for record in data), encoding="utf-8")
    return path


def record_of(records: Path, document_id: str) -> Record:
    return next(r for r in read_batch(records) if r.document.id == document_id)


def flag_paths(record: Record) -> list[str]:
    """The record's flagged fields in the order the page walks them."""
    return list(dict.fromkeys(flag.path for flag in flags(record, field_views(record))))


def reviews_of(records: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (records.parent / "reviews.jsonl").read_text().splitlines()]


def saving(tab: Page, key: str) -> None:
    """Press ``key`` and wait for the save it makes."""
    with tab.expect_response(lambda response: response.url.endswith("/reviews")):
        tab.keyboard.press(key)


@pytest.fixture
def page(browser: Browser, records: Path) -> Iterator[tuple[Page, str, list[str]]]:
    """The page open on the app's queue, and every URL it requested."""
    with serving(records, who="tester") as url:
        context = browser.new_context(viewport={"width": 1500, "height": 950})
        tab = context.new_page()
        requested: list[str] = []
        tab.on("request", lambda request: requested.append(request.url))
        tab.goto(url)
        tab.wait_for_selector("#queue li")
        yield tab, url, requested
        context.close()


def open_letter(tab: Page, search: str) -> None:
    tab.fill("#search", search)
    tab.click("#queue li")
    tab.wait_for_function(
        "() => [...document.querySelectorAll('.page img')].length > 0 && "
        "[...document.querySelectorAll('.page img')].every((img) => img.complete && img.naturalWidth > 0)"
    )


def rect(tab: Page, selector: str) -> dict[str, float]:
    box = tab.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def word_rects(path: Path, page_number: int, word: str) -> list[tuple[float, float, float, float]]:
    """Where pdfium finds ``word`` on the page: (left, top, right, bottom) in fractions of the page."""
    pdf = pdfium.PdfDocument(path, password="")
    try:
        page = pdf[page_number]
        width, height = page.get_size()
        textpage = page.get_textpage()
        found = []
        searcher = textpage.search(word, match_case=True, match_whole_word=True)
        while (hit := searcher.get_next()) is not None:
            start, count = hit
            boxes = [textpage.get_charbox(index) for index in range(start, start + count)]
            left, right = min(b[0] for b in boxes), max(b[2] for b in boxes)
            bottom, top = min(b[1] for b in boxes), max(b[3] for b in boxes)
            found.append((left / width, 1 - top / height, right / width, 1 - bottom / height))
        return found
    finally:
        pdf.close()


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over the smaller rectangle's area."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / smaller


def lies_over(tab: Page, selector: str, letter: Path, words: str) -> bool:
    """Whether the first box ``selector`` finds lies over ``words`` where the page has them."""
    drawn = rect(tab, selector)
    number = int(tab.locator(selector).first.evaluate("(node) => node.parentElement.dataset.page"))
    image = rect(tab, f'.page[data-page="{number}"] img')
    assert image["width"] > 500
    on_page = (
        (drawn["x"] - image["x"]) / image["width"],
        (drawn["y"] - image["y"]) / image["height"],
        (drawn["x"] + drawn["width"] - image["x"]) / image["width"],
        (drawn["y"] + drawn["height"] - image["y"]) / image["height"],
    )
    return max((overlap(on_page, found) for found in word_rects(letter, number, words)), default=0) > 0.8


def test_the_decision_box_lies_over_the_decision_word(
    page: tuple[Page, str, list[str]], records: Path
) -> None:
    tab, url, requested = page
    record = next(r for r in read_batch(records) if r.document.id == "CM16-0213037")
    open_letter(tab, "CM16-0213037")
    field = "determination.items[1].decision"
    tab.click(f'.field[data-path="{field}"]')
    box_selector = f'.box[data-field="{field}"]'
    assert "selected" in (tab.locator(box_selector).first.get_attribute("class") or "")
    decision = record.determination.items[1].decision.value
    assert lies_over(tab, box_selector, Path(record.document.path), decision)
    assert all(request.startswith(url) for request in requested)


def test_keys_move_between_records(page: tuple[Page, str, list[str]]) -> None:
    tab, _, _ = page
    first = tab.locator("#queue li.current").get_attribute("data-index")
    tab.keyboard.press("j")
    tab.wait_for_function(f"() => document.querySelector('#queue li.current')?.dataset.index !== '{first}'")
    tab.keyboard.press("k")
    tab.wait_for_function(f"() => document.querySelector('#queue li.current')?.dataset.index === '{first}'")
    tab.keyboard.press("?")
    assert tab.locator("#help").is_visible()
    tab.keyboard.press("Escape")
    assert not tab.locator("#help").is_visible()


def test_the_queue_puts_the_least_confident_first_and_says_why(
    page: tuple[Page, str, list[str]], records: Path
) -> None:
    tab, _, _ = page
    batch = read_batch(records)
    least = sorted(batch, key=lambda r: (not r.needs_review, min(r.confidence.values())))
    shown = tab.locator("#queue li").evaluate_all("(rows) => rows.map((row) => row.dataset.index)")
    assert [batch[int(index)].document.id for index in shown] == [r.document.id for r in least]
    assert least[0].document.id == SEED  # last by path: the order is the confidence's
    for row, record in zip(tab.locator("#queue li").all(), least, strict=True):
        found = flags(record, field_views(record))
        assert f"{len(found)} flagged" in row.inner_text()
        assert row.locator(".reason").get_attribute("title") == found[0].reason


def test_the_queue_filters_by_reason_field_and_confidence(
    page: tuple[Page, str, list[str]], records: Path
) -> None:
    tab, _, _ = page
    other = record_of(records, "CM16-0248698")
    note = next(check.note for check in other.checks if check.review and check.note)
    tab.select_option("#f-reason", reason_kinds(note)[0])
    assert tab.locator("#queue li").count() == 1
    assert "CM16-0248698" in tab.locator("#queue li").inner_text()
    tab.select_option("#f-reason", "")
    tab.select_option("#f-field", "case.case_number")
    assert tab.locator("#queue li").count() == 1
    assert SEED in tab.locator("#queue li").inner_text()
    tab.select_option("#f-field", "")
    tab.select_option("#f-confidence", "0.5")
    shown = tab.locator("#queue li").all_inner_texts()
    assert len(shown) == 1
    assert SEED in shown[0]
    tab.select_option("#f-confidence", "")
    assert tab.locator("#queue li").count() == 3


def test_a_letter_opens_on_its_first_flag_with_the_reason_at_the_top(
    page: tuple[Page, str, list[str]], records: Path
) -> None:
    tab, _, _ = page
    record = record_of(records, "CM16-0213037")
    open_letter(tab, "CM16-0213037")
    first = flag_paths(record)[0]
    tab.wait_for_selector(f'.field.selected[data-path="{first}"]')
    views = {view.path: view for view in field_views(record)}
    bar = tab.locator("#flag-bar")
    assert views[first].flags[0] in bar.inner_text()
    box = rect(tab, "#flag-bar")
    assert box["y"] + box["height"] < 950 / 2  # above the fold, in the letter's pane
    assert rect(tab, "#letter")["x"] <= box["x"]
    for path in flag_paths(record):
        row = tab.locator(f'.field[data-path="{path}"]')
        assert set(views[path].flags) <= set(row.locator(".reason").all_inner_texts())


def test_n_and_p_walk_every_flag_whatever_its_status(
    page: tuple[Page, str, list[str]], records: Path
) -> None:
    tab, _, _ = page
    record, after = record_of(records, "CM16-0213037"), record_of(records, "CM16-0248698")
    walk = flag_paths(record)
    statuses = {check.status for check in record.checks if check.review}
    assert statuses == {"rules_only", "disagree"}  # doubtful rules-only values, and a disagreement
    open_letter(tab, "CM16-0213037")
    tab.fill("#search", "")  # the whole queue: n goes on to the next record with a flag
    tab.keyboard.press("Escape")  # out of the search box
    tab.wait_for_selector(f'.field.selected[data-path="{walk[0]}"]')
    for path in walk[1:]:
        tab.keyboard.press("n")
        tab.wait_for_selector(f'.field.selected[data-path="{path}"]')
    tab.keyboard.press("n")
    tab.wait_for_function("() => document.querySelector('#record-bar h2')?.textContent === 'CM16-0248698'")
    tab.wait_for_selector(f'.field.selected[data-path="{flag_paths(after)[0]}"]')
    tab.keyboard.press("p")
    tab.wait_for_function("() => document.querySelector('#record-bar h2')?.textContent === 'CM16-0213037'")
    tab.wait_for_selector(f'.field.selected[data-path="{walk[-1]}"]')
    tab.keyboard.press("p")
    tab.wait_for_selector(f'.field.selected[data-path="{walk[-2]}"]')


def test_the_legend_says_what_each_status_means(page: tuple[Page, str, list[str]], records: Path) -> None:
    tab, _, _ = page
    legend = tab.locator("#legend").inner_text()
    assert "read, not compared: only the rules pass read it" in legend
    assert "not read: the rules could not read it, or a required field is missing" in legend
    assert "rules only: the rules gave a value and the LLM none" in legend
    assert "doubtful (0.50): only the rules read it and they are unsure: its confidence" in legend
    record = record_of(records, "CM16-0213037")
    open_letter(tab, "CM16-0213037")
    path = "determination.patient.diagnoses"
    label = tab.locator(f'.field[data-path="{path}"] .label').inner_text()
    assert f"doubtful ({record.confidence[path]:.2f})" in label
    tab.fill("#search", SEED)
    tab.click("#queue li")
    label = tab.locator('.field[data-path="determination.case.case_number"] .label').inner_text()
    assert "not read" in label
    assert "rules only" not in label


def test_one_key_accepts_a_value_one_takes_the_llm_reading_and_u_undoes(
    page: tuple[Page, str, list[str]], records: Path
) -> None:
    tab, _, _ = page
    record = record_of(records, "CM16-0213037")
    open_letter(tab, "CM16-0213037")
    category = "determination.items[0].category"
    row = f'.field[data-path="{category}"]'
    tab.click(row)
    saving(tab, "l")
    tab.wait_for_function(f"() => document.querySelector('{row} .value')?.textContent === 'medication'")
    assert "edited" in (tab.locator(row).get_attribute("class") or "")
    assert reviews_of(records)[-1] | {"when": None} == reviews_of(records)[-1] | {
        "when": None, "action": "edit", "field": category, "old": "imaging", "new": "medication"
    }  # fmt: skip
    saving(tab, "u")
    tab.wait_for_function(f"() => document.querySelector('{row} .value')?.textContent === 'imaging'")
    assert "edited" not in (tab.locator(row).get_attribute("class") or "")
    assert reviews_of(records)[-1]["action"] == "undo"
    first, second = flag_paths(record)[:2]
    tab.click(f'.field[data-path="{first}"]')
    saving(tab, "y")
    tab.wait_for_selector(f'.field.selected[data-path="{second}"]')  # on to the next flag
    assert "accepted" in (tab.locator(f'.field[data-path="{first}"]').get_attribute("class") or "")
    assert (reviews_of(records)[-1]["action"], reviews_of(records)[-1]["field"]) == ("accept", first)


def test_undo_goes_back_ten_actions(page: tuple[Page, str, list[str]], records: Path) -> None:
    tab, _, _ = page
    open_letter(tab, "CM16-0213037")
    path = "determination.patient.age"
    for _ in range(11):
        tab.click(f'.field[data-path="{path}"]')
        saving(tab, "y")
    for _ in range(10):
        saving(tab, "u")
    tab.keyboard.press("u")
    tab.wait_for_function("() => document.querySelector('#notice')?.textContent === 'nothing to undo'")
    actions = [review["action"] for review in reviews_of(records)]
    assert actions == ["accept"] * 11 + ["undo"] * 10


def test_keys_pressed_during_a_save_act_after_it_in_order(page: tuple[Page, str, list[str]]) -> None:
    """``u u`` pressed at once: the first undo saves, then the second finds nothing left to undo,
    and that is the notice left on screen (not the first's "undone", arriving after it)."""
    tab, _, _ = page
    open_letter(tab, "CM16-0213037")
    tab.click('.field[data-path="determination.patient.age"]')
    saving(tab, "y")
    with tab.expect_response(lambda response: response.url.endswith("/reviews")):
        tab.keyboard.press("u")
        tab.keyboard.press("u")
    tab.wait_for_function("() => document.querySelector('#notice')?.textContent === 'nothing to undo'")
    tab.wait_for_timeout(300)  # what the first undo's answer would write, had it come second
    assert tab.locator("#notice").text_content() == "nothing to undo"


def test_progress_counts_the_flagged_letters_reviewed(page: tuple[Page, str, list[str]]) -> None:
    tab, _, _ = page
    assert tab.locator("#progress").inner_text() == "0 of 3 flagged letters reviewed"
    open_letter(tab, "CM16-0213037")
    saving(tab, "a")
    tab.wait_for_function(
        "() => document.querySelector('#progress')?.textContent === '1 of 3 flagged letters reviewed'"
    )


def test_enter_saves_a_single_line_value_and_ctrl_enter_a_list(
    page: tuple[Page, str, list[str]], records: Path
) -> None:
    tab, _, requested = page
    tab.keyboard.press("?")
    assert "Enter saves a single-line value, Ctrl+Enter a list" in tab.locator("#help").inner_text()
    tab.keyboard.press("Escape")
    open_letter(tab, "CM16-0213037")
    diagnoses = "determination.patient.diagnoses"
    tab.click(f'.field[data-path="{diagnoses}"]')
    tab.keyboard.press("e")
    area = tab.locator(f'textarea[name="{diagnoses}"]')
    area.press("End")
    saves = len([url for url in requested if url.endswith("/reviews")])
    area.press("Enter")
    area.type("a new entry")
    assert area.is_visible()
    assert len([url for url in requested if url.endswith("/reviews")]) == saves
    saving(tab, "Control+Enter")
    assert reviews_of(records)[-1]["new"][-1] == "a new entry"
    request = "determination.items[0].request"
    tab.click(f'.field[data-path="{request}"]')
    tab.keyboard.press("e")
    tab.fill(f'[name="{request}"]', "a request")
    saving(tab, "Enter")
    assert (reviews_of(records)[-1]["field"], reviews_of(records)[-1]["new"]) == (request, "a request")


def test_esc_leaves_the_search_box(page: tuple[Page, str, list[str]]) -> None:
    tab, _, _ = page
    first = tab.locator("#queue li.current").get_attribute("data-index")
    tab.keyboard.press("/")
    assert tab.evaluate("() => document.activeElement.id") == "search"
    tab.keyboard.press("Escape")
    assert tab.evaluate("() => document.activeElement.id") != "search"
    tab.keyboard.press("j")  # a key again, not a letter typed into the search
    tab.wait_for_function(f"() => document.querySelector('#queue li.current')?.dataset.index !== '{first}'")
    assert tab.input_value("#search") == ""


def test_the_evidence_box_follows_an_edit(page: tuple[Page, str, list[str]], records: Path) -> None:
    tab, _, _ = page
    record = record_of(records, "CM16-0213037")
    start, end = record.evidence["determination.items[1].request"][0]
    written = " ".join(read_path(Path(record.document.path)).text[start:end].split())  # read now
    open_letter(tab, "CM16-0213037")
    mechanism = "determination.patient.mechanism_of_injury"
    assert tab.locator(f'.box[data-field="{mechanism}"]').count() == 0
    tab.click(f'.field[data-path="{mechanism}"]')
    tab.keyboard.press("e")
    tab.fill(f'[name="{mechanism}"]', written)
    saving(tab, "Enter")
    tab.wait_for_selector(f'.box[data-field="{mechanism}"]')
    assert lies_over(tab, f'.box[data-field="{mechanism}"]', Path(record.document.path), written)
    assert "edited" in (tab.locator(f'.field[data-path="{mechanism}"]').get_attribute("class") or "")


def test_a_letter_is_found_by_its_sha256_wherever_the_batch_ran(
    browser: Browser, records: Path, tmp_path: Path
) -> None:
    """The batch folder moved beside the letter, renamed, and a different file at its old name:
    the page shows the letter whose bytes the record names."""
    record = record_of(records, "CM16-0213037")
    moved = tmp_path / "moved"
    (moved / "out").mkdir(parents=True)
    (moved / "scans").mkdir()
    (moved / "letters").mkdir()
    shutil.copy(record.document.path, moved / "scans" / "renamed.pdf")
    shutil.copy(record_of(records, "CM16-0248698").document.path, moved / "letters" / "CM16-0213037.pdf")
    lines = []
    for line in records.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        data["document"]["path"] = "/batch/ran/elsewhere/letters/" + Path(data["document"]["path"]).name
        lines.append(json.dumps(data) + "\n")
    (moved / "out" / "records.jsonl").write_text("".join(lines), encoding="utf-8")
    with serving(moved / "out" / "records.jsonl") as url:
        context = browser.new_context(viewport={"width": 1500, "height": 950})
        tab = context.new_page()
        tab.goto(url)
        tab.wait_for_selector("#queue li")
        open_letter(tab, "CM16-0213037")
        assert tab.locator("#letter .problem").count() == 0
        assert tab.locator(".box").count() > 0
        context.close()


def test_a_text_letter_is_shown_with_its_spans_marked(
    page: tuple[Page, str, list[str]], records: Path
) -> None:
    tab, _, _ = page
    record = next(r for r in read_batch(records) if r.document.pages is None)
    tab.fill("#search", record.document.id)
    tab.click("#queue li")
    tab.click('.field[data-path="determination.items[0].decision"]')
    mark = tab.locator("pre.text mark.selected")
    assert mark.inner_text().strip(": ") == record.determination.items[0].decision.value


def items_by_category(report: dict[str, Any]) -> dict[str, int]:
    """Items per category in a ``stats --json`` report."""
    table = next(table for table in report["rates"] if table["name"] == "category")
    return {row["group"]: row["items"] for row in table["rates"]}


def test_an_edited_category_is_saved_and_exported(
    page: tuple[Page, str, list[str]], records: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tab, _, _ = page
    open_letter(tab, "CM16-0213037")
    field = "determination.items[0].category"
    tab.click(f'.field[data-path="{field}"]')
    tab.keyboard.press("e")
    tab.select_option(f'select[name="{field}"]', "surgery")
    with tab.expect_response(lambda response: response.url.endswith("/reviews")):
        tab.keyboard.press("Enter")
    tab.wait_for_function(
        f"() => document.querySelector('.field[data-path=\"{field}\"] .value')?.textContent === 'surgery'"
    )
    with tab.expect_response(lambda response: response.url.endswith("/reviews")):
        tab.keyboard.press("a")
    tab.wait_for_selector("#queue li .badge.reviewed")
    reviews = [json.loads(line) for line in (records.parent / "reviews.jsonl").read_text().splitlines()]
    edit: dict[str, Any] = reviews[0]
    assert (edit["action"], edit["field"], edit["new"], edit["who"]) == ("edit", field, "surgery", "tester")
    assert edit["old"] == "imaging"
    assert edit["document"]["id"] == "CM16-0213037"
    assert [review["action"] for review in reviews] == ["edit", "accept"]
    capsys.readouterr()
    assert main(["export", str(records), "--reviewed"]) == 0
    exported = {r["document"]["id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert exported["CM16-0213037"]["determination"]["items"][0]["category"] == "surgery"
    # the same batch folder's statistics, report and database count the correction, no extra step
    folder = records.parent
    assert main(["stats", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reviews"]["applied"]
    assert report["reviews"]["corrections"] == {"determination.items[].category": 1}
    by_category = {
        r["group"]: r["items"] for r in next(t for t in report["rates"] if t["name"] == "category")["rates"]
    }
    machine = {"imaging": 0, "surgery": 0, **by_category}
    assert main(["stats", str(folder), "--json", "--no-reviews"]) == 0
    unreviewed = json.loads(capsys.readouterr().out)
    before = {
        r["group"]: r["items"]
        for r in next(t for t in unreviewed["rates"] if t["name"] == "category")["rates"]
    }
    assert machine["surgery"] == before.get("surgery", 0) + 1
    assert machine["imaging"] == before["imaging"] - 1
    page_file = folder / "report.html"
    assert main(["stats", str(folder), "--html", str(page_file)]) == 0
    assert "corrections" in page_file.read_text(encoding="utf-8").lower()
    database = folder / "imr.duckdb"
    assert main(["export", str(folder), "--to", "duckdb", str(database)]) == 0
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        query = "SELECT category FROM items JOIN letters USING (letter_key) WHERE document_id = ?"
        query += " AND item_index = 0"
        assert con.execute(query, ["CM16-0213037"]).fetchone() == ("surgery",)


def test_with_a_token_the_page_works_from_the_address_printed(browser: Browser, records: Path) -> None:
    """Serving beyond loopback: the token in the printed address becomes a cookie, which the
    page's own requests (the queue, a letter, its page images) carry; without it, nothing."""
    with serving(records, token="a-token") as url:
        context = browser.new_context()
        tab = context.new_page()
        refused = tab.goto(url)
        assert refused is not None
        assert refused.status == 403
        tab.goto(url + "?token=a-token")
        assert tab.url == url  # the token left the address bar
        tab.wait_for_selector("#queue li")
        open_letter(tab, "CM16-0213037")
        context.close()
