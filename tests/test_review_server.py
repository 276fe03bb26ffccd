"""The review server: answers only requests addressed to it, saves only JSON, logs no letter text."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractor.review.batch import read_batch
from extractor.review.corrections import reviews_beside
from support.review_server import fetch, serving, start
from tests.review_batch import make_batch


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("batch"))


@pytest.fixture
def url(records: Path) -> Iterator[str]:
    with serving(records) as address:
        yield address


def test_it_serves_the_page_its_assets_and_the_queue(url: str) -> None:
    status, page = fetch(url)
    assert status == 200
    links = re.findall(rb'(?:src|href)="([^"]+)"', page)
    assert links
    assert all(link.startswith(b"/static/") for link in links)
    for name in ("app.js", "app.css"):
        status, asset = fetch(url + "static/" + name)
        assert status == 200
        assert b"http://" not in asset
        assert b"https://" not in asset
    status, body = fetch(url + "api/queue")
    assert status == 200
    assert len(json.loads(body)) == 3


def test_pages_are_pngs_and_unknown_things_are_404(url: str) -> None:
    status, image = fetch(url + "api/records/0/pages/0.png")
    assert status == 200
    assert image.startswith(b"\x89PNG")
    for missing in ("api/records/0/pages/99.png", "api/records/2/pages/0.png", "api/records/9", "static/x"):
        assert fetch(url + missing)[0] == 404


def test_a_request_for_another_host_is_refused(url: str) -> None:
    assert fetch(url + "api/queue", headers={"Host": "attacker.example"})[0] == 403
    body = json.dumps({"action": "accept"}).encode()
    other = {"Content-Type": "application/json", "Origin": "http://attacker.example"}
    assert fetch(url + "api/records/0/reviews", body, other)[0] == 403


def test_a_save_must_be_json(url: str, records: Path) -> None:
    assert fetch(url + "api/records/0/reviews", b"action=accept")[0] == 415
    bad = json.dumps({"action": "edit", "field": "determination.items[0].decision", "new": "Maybe"}).encode()
    json_type = {"Content-Type": "application/json"}
    status, body = fetch(url + "api/records/0/reviews", bad, json_type)
    assert status == 422
    assert b"decision" in body
    for wrong in ({"action": "rewrite"}, {"action": "edit", "field": 3, "new": 1}, [1]):
        assert fetch(url + "api/records/0/reviews", json.dumps(wrong).encode(), json_type)[0] == 422
    assert not (records.parent / "reviews.jsonl").exists()


def test_the_log_names_paths_and_statuses_never_letter_text(
    url: str, records: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for index in range(3):
        fetch(url + f"api/records/{index}")
    fetch(url + "api/records/0/pages/0.png")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("extractor")]
    assert lines
    assert all(re.fullmatch(r"GET /[\w/.]* \d{3}", line) for line in lines)
    words = {item.request for record in read_batch(records) for item in record.determination.items}
    assert not any(word in caplog.text for word in words)


def test_the_command_serves_loopback_on_a_free_port_and_prints_the_url(records: Path) -> None:
    process, url = start(str(records.parent))
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        status, body = fetch(url + "api/queue")
        assert status == 200
        assert len(json.loads(body)) == 3
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "warning" not in err


def test_another_host_is_served_only_when_asked_and_with_a_warning(records: Path) -> None:
    process, url = start(str(records), "--host", "0.0.0.0")
    process.terminate()
    _, err = process.communicate(timeout=30)
    assert url.startswith("http://0.0.0.0:")
    assert "warning: serving on 0.0.0.0: anyone who can reach it can read these letters" in err


def test_reviews_that_no_longer_apply_show_the_record_as_extracted(records: Path, tmp_path: Path) -> None:
    copy = tmp_path / "records.jsonl"
    copy.write_bytes(records.read_bytes())
    log = reviews_beside(copy)
    log.save(read_batch(copy)[0], "edit", "ana", "determination.items[1].category", "surgery")
    log.close()
    line = json.loads((tmp_path / "reviews.jsonl").read_text(encoding="utf-8"))
    line["field"] = "determination.items[9].category"  # as if the letter had been re-extracted
    (tmp_path / "reviews.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    with serving(copy) as url:
        status, body = fetch(url + "api/records/0")
    assert status == 200
    assert "no longer apply" in json.loads(body)["review_problem"]
