"""The review page in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

It opens the queue of a small batch, opens a letter, checks that the evidence box drawn for a
decision lies over that word on the rendered page, walks the keys, edits a category and
checks reviews.jsonl and ``export --reviewed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from extractor.cli import main
from extractor.review.batch import read_batch
from tests.review_batch import make_batch
from tests.review_server import serving

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


@pytest.fixture
def records(made: Path, tmp_path: Path) -> Path:
    """The batch, with a disagreement on the first item's category as the hybrid backend writes one."""
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
    path.write_text("".join(json.dumps(record) + "\n" for record in data), encoding="utf-8")
    return path


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
    drawn = rect(tab, box_selector)
    number = int(tab.locator(box_selector).first.evaluate("(node) => node.parentElement.dataset.page"))
    image = rect(tab, f'.page[data-page="{number}"] img')
    assert image["width"] > 500
    on_page = (
        (drawn["x"] - image["x"]) / image["width"],
        (drawn["y"] - image["y"]) / image["height"],
        (drawn["x"] + drawn["width"] - image["x"]) / image["width"],
        (drawn["y"] + drawn["height"] - image["y"]) / image["height"],
    )
    decision = record.determination.items[1].decision.value
    words = word_rects(Path(record.document.path), number, decision)
    best = max(overlap(on_page, word) for word in words)
    assert best > 0.8, (on_page, words)
    assert all(request.startswith(url) for request in requested)


def test_keys_move_between_records_and_disagreements(page: tuple[Page, str, list[str]]) -> None:
    tab, _, _ = page
    first = tab.locator("#queue li.current").get_attribute("data-index")
    tab.keyboard.press("j")
    tab.wait_for_function(f"() => document.querySelector('#queue li.current')?.dataset.index !== '{first}'")
    tab.keyboard.press("k")
    tab.wait_for_function(f"() => document.querySelector('#queue li.current')?.dataset.index === '{first}'")
    tab.keyboard.press("n")
    selected = '.field.selected[data-path="determination.items[0].category"]'
    tab.wait_for_selector(selected)
    assert "LLM: medication" in tab.locator(selected).inner_text()
    assert "disagree" in (tab.locator(selected).get_attribute("class") or "")
    tab.keyboard.press("?")
    assert tab.locator("#help").is_visible()
    tab.keyboard.press("Escape")
    assert not tab.locator("#help").is_visible()


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
