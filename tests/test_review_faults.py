"""The review log and the review server under faults: a torn line, a full disk, two servers,
files that are not files, malformed and stalled requests, huge pages, requests from elsewhere,
and serving beyond loopback (issue 28, scenarios 1-7).  A real server on 127.0.0.1 (in a thread,
or ``extractor review`` in a subprocess), real sockets and a real file system."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractor.cli import main
from extractor.review.batch import DocumentFinder, read_batch
from extractor.review.corrections import ReviewLogError, reviews_beside, torn_of
from extractor.review.letters import MAX_PIXELS, render_page
from extractor.review.server import WORKERS, ReviewApp, make_server
from extractor.schemas import Record
from extractor.schemas.review import Review
from support.review_server import exchange, serving, start, stop
from tests.review_batch import make_batch

JSON = {"Content-Type": "application/json"}
AGE = "determination.patient.age"
TORN = b'{"document": {"id": "CM'


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("batch"))


@pytest.fixture
def batch(made: Path, tmp_path: Path) -> Path:
    """A fresh copy of the batch's records.jsonl, with no reviews yet."""
    copy = tmp_path / "out" / "records.jsonl"
    copy.parent.mkdir()
    shutil.copy(made, copy)
    return copy


def first(batch: Path) -> Record:
    return read_batch(batch)[0]


def saved(batch: Path, value: int) -> Path:
    """The batch's review log after one edit of the first record's age to ``value``."""
    log = reviews_beside(batch)
    log.save(first(batch), "edit", "ana", AGE, value)
    log.close()
    return log.path


def save(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    status, _, answer = exchange(url + "api/records/0/reviews", "POST", json.dumps(body).encode(), {
        **JSON, **(headers or {})})  # fmt: skip
    return status, json.loads(answer)


def reviews(path: Path) -> list[Review]:
    """Every line of the log, each of which must be a review."""
    return [Review.model_validate_json(line) for line in path.read_bytes().splitlines()]


def reviewed_age(batch: Path, capsys: pytest.CaptureFixture[str]) -> object:
    capsys.readouterr()
    assert main(["export", str(batch), "--reviewed"]) == 0
    return json.loads(capsys.readouterr().out.splitlines()[0])["determination"]["patient"]["age"]


# --- 1. a torn last line ----------------------------------------------------------------------


def test_a_torn_last_line_is_cut_and_kept_aside_and_the_next_save_starts_clean(
    batch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = saved(batch, 61)
    with log.open("ab") as stream:  # a crash or a full disk mid-save
        stream.write(TORN)
    process, url = start(str(batch.parent))
    try:
        assert save(url, {"action": "edit", "field": AGE, "new": 62})[0] == 200
    finally:
        err = stop(process)
    assert f"{log} ended in a torn line (a save never confirmed): cut, and kept in {torn_of(log)}" in err
    assert [review.new for review in reviews(log)] == [61, 62]
    assert torn_of(log).read_bytes() == TORN + b"\n"
    assert reviewed_age(batch, capsys) == 62


def test_a_review_missing_only_its_newline_is_kept(batch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = saved(batch, 61)
    log.write_bytes(log.read_bytes().rstrip(b"\n"))  # as an editor may leave it
    with serving(batch) as url:
        assert save(url, {"action": "accept"})[0] == 200
    assert [review.action for review in reviews(log)] == ["edit", "accept"]
    assert not torn_of(log).exists()
    assert reviewed_age(batch, capsys) == 61


def test_a_line_that_is_not_a_review_is_named_with_its_file(
    batch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = saved(batch, 61)
    log.write_bytes(b"not a review\n" + log.read_bytes())
    expected = f"{log}: line 1 is not a review; repair or remove that line, then retry\n"
    assert main(["export", str(batch), "--reviewed"]) == 2
    assert capsys.readouterr().err == f"extractor export: {expected}"
    assert main(["review", str(batch.parent)]) == 2
    assert capsys.readouterr().err == f"extractor review: {expected}"


# --- 2. a full disk during a save -------------------------------------------------------------


def test_a_save_onto_a_full_disk_is_answered_and_leaves_the_log_as_it_was(
    batch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = saved(batch, 61)
    before = log.read_bytes()
    room = len(before) + 40  # the next line starts, then the file may grow no more

    def full_disk() -> None:  # a file size limit fails a write as a full disk does, for any user
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))

    process, url = start(str(batch.parent), preexec_fn=full_disk)
    try:
        for _ in range(2):
            status, answer = save(url, {"action": "edit", "field": AGE, "new": 62})
            assert status == 507
            assert re.fullmatch(
                r"the review was not saved \(.+\); the log is as it was", str(answer["error"])
            )
            assert log.read_bytes() == before
    finally:
        err = stop(process)
    assert "Traceback" not in err
    assert reviewed_age(batch, capsys) == 61


# --- 3. two review servers on one batch --------------------------------------------------------


def test_a_second_review_server_on_the_batch_is_refused(batch: Path) -> None:
    first_server, url = start(str(batch.parent))
    try:
        second, printed = start(str(batch.parent))
        try:
            assert printed == ""
            assert second.wait(timeout=60) == 2
        finally:
            err = stop(second)
        log = batch.parent / "reviews.jsonl"
        assert (
            err == f"extractor review: another review server is saving to {log}; review there, or stop it\n"
        )
        assert save(url, {"action": "accept"})[0] == 200
    finally:
        stop(first_server)


def test_a_log_read_earlier_is_read_again_before_its_first_save(batch: Path) -> None:
    early = reviews_beside(batch)  # read before another process saved
    saved(batch, 61)
    review = early.save(first(batch), "edit", "bo", AGE, 62)
    early.close()
    assert review.old == 61
    with pytest.raises(ReviewLogError, match="another review server"), serving(batch):
        reviews_beside(batch).hold()


# --- 4. a review log that is not a file -------------------------------------------------------


def _bounded(*args: str) -> subprocess.CompletedProcess[str]:
    """``extractor ARGS`` in a subprocess with 1 GiB of address space and a deadline."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "extractor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit,
    )


@pytest.mark.parametrize(("make", "what"), [("fifo", "a named pipe (FIFO)"), ("zero", "a character device")])
def test_a_review_log_that_is_not_a_regular_file_is_refused(batch: Path, make: str, what: str) -> None:
    log = batch.parent / "reviews.jsonl"
    if make == "fifo":
        os.mkfifo(log)
    else:
        log.symlink_to("/dev/zero")
    expected = f"{log} is {what}, not a regular file; the review log must be one\n"
    for command, args in (("export", (str(batch), "--reviewed")), ("review", (str(batch.parent),))):
        run = _bounded(command, *args)
        assert (run.returncode, run.stderr) == (2, f"extractor {command}: {expected}")


# --- 5. malformed, short and stalled requests --------------------------------------------------


@pytest.fixture
def url(batch: Path) -> Iterator[str]:
    with serving(batch, timeout=1.0) as address:
        yield address


def raw(url: str, head: bytes, body: bytes = b"", hang_up: bool = True) -> bytes:
    """Send a request's head and body as given (then end the sending side); the whole answer."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head + body)
        if hang_up:
            connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def post_head(url: str, length: str) -> bytes:
    host = url.removeprefix("http://").rstrip("/")
    return (
        f"POST /api/records/0/reviews HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def status_of(answer: bytes) -> int:
    assert answer.endswith(b"}")  # a JSON reason, not a dropped connection
    assert b'{"error": "' in answer
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("length", "body", "status"),
    [
        ("abc", b"{}", 400),
        ("-5", b"{}", 400),
        ("2000000", b"{}", 413),
        (None, b'\xff\xfe{"action": "accept"}', 400),
        (None, b"[" * 100_000, 400),
        (None, b'{"action": "accept", "new": ' + b"[" * 40 + b"]" * 40 + b"}", 400),
        (None, b'{"action": "accept"', 400),
        (None, b'{"action": "accept", "new": ' + b"1" * 5000 + b"}", 400),
    ],
    ids=["not-a-number", "negative", "too-large", "not-utf8", "deep", "nested", "not-json", "huge-number"],
)
def test_a_malformed_save_gets_a_clear_answer_and_saves_nothing(
    url: str, batch: Path, capfd: pytest.CaptureFixture[str], length: str | None, body: bytes, status: int
) -> None:
    assert status_of(raw(url, post_head(url, length or str(len(body))), body)) == status
    assert "Traceback" not in capfd.readouterr().err
    assert not (batch.parent / "reviews.jsonl").exists()


def test_a_body_that_stops_short_is_never_saved(url: str, batch: Path) -> None:
    body = json.dumps({"action": "accept"}).encode()
    assert status_of(raw(url, post_head(url, str(len(body) + 20)), body)) == 400
    assert not (batch.parent / "reviews.jsonl").exists()


def test_a_client_that_stalls_mid_body_is_answered_and_dropped(url: str, batch: Path) -> None:
    body = json.dumps({"action": "accept"}).encode()
    answer = raw(url, post_head(url, str(len(body) + 20)), body, hang_up=False)  # the server hangs up
    assert status_of(answer) == 408
    assert not (batch.parent / "reviews.jsonl").exists()


def _handlers() -> int:
    return sum("process_request_thread" in thread.name for thread in threading.enumerate())


def test_connections_are_served_by_a_bounded_number_of_threads(batch: Path) -> None:
    with serving(batch) as url:
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        idle = [socket.create_connection((host, int(port)), timeout=30) for _ in range(WORKERS + 8)]
        try:
            deadline = time.monotonic() + 20
            while _handlers() < WORKERS and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)  # room for any further thread to start
            assert _handlers() <= WORKERS
        finally:
            for connection in idle:
                connection.close()
        assert exchange(url + "api/queue")[0] == 200


# --- 6. huge pages, and reads from elsewhere --------------------------------------------------


def _page_pdf(size: int) -> bytes:
    """A one-page PDF, ``size`` points square, with one line of text."""
    content = b"BT /F1 24 Tf 72 72 Td (A letter on a huge page) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>" % (size, size),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.mark.parametrize("size", [612, 5000])
def test_a_page_renders_with_at_most_max_pixels(tmp_path: Path, size: int) -> None:
    pdf = tmp_path / "page.pdf"
    pdf.write_bytes(_page_pdf(size))
    image = render_page(pdf, 0)
    width, height = struct.unpack(">II", image[16:24])  # the IHDR chunk
    assert width == height
    assert width * height <= MAX_PIXELS
    assert width >= (1224 if size == 612 else 1999)  # a letter page as sharp as before


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://attacker.example"},
    ],
)
def test_letter_data_is_not_read_for_another_site(url: str, headers: dict[str, str]) -> None:
    for path in ("api/records/0/pages/0.png", "api/records/0", "api/queue"):
        assert exchange(url + path, headers=headers)[0] == 403
        assert exchange(url + path, headers={"Sec-Fetch-Site": "same-origin"})[0] == 200


# --- 7. serving beyond loopback ---------------------------------------------------------------


def test_beyond_loopback_every_request_needs_the_token_printed_at_start(batch: Path) -> None:
    process, printed = start(str(batch.parent), "--host", "0.0.0.0")
    try:
        match = re.fullmatch(r"http://0\.0\.0\.0:(\d+)/\?token=([\w-]{32})", printed)
        assert match is not None, printed
        port, token = match.groups()
        url = f"http://127.0.0.1:{port}/"
        rebound = {"Host": f"attacker.example:{port}"}
        for path in ("", "api/queue", "api/records/0", f"api/queue?token={token[::-1]}"):
            assert exchange(url + path)[0] == 403
            assert exchange(url + path, headers=rebound)[0] == 403
        status, headers, _ = exchange(f"{url}?token={token}")
        assert (status, headers["Location"]) == (303, "/")
        cookie = headers["Set-Cookie"].split(";")[0]
        assert cookie == f"review_token_{port}={token}"
        assert "HttpOnly" in headers["Set-Cookie"]
        assert exchange(url + "api/queue", headers={"Cookie": cookie})[0] == 200
        attacker = {"Cookie": cookie, "Origin": "http://attacker.example"}
        assert save(url, {"action": "accept"}, attacker)[0] == 403
        assert save(url, {"action": "accept"}, {"Cookie": cookie, "Origin": url.rstrip("/")})[0] == 200
    finally:
        stop(process)


def test_the_app_is_not_served_beyond_loopback_without_a_token(batch: Path) -> None:
    log = reviews_beside(batch)
    app = ReviewApp(read_batch(batch), DocumentFinder(batch.parent), log, "tester")
    with pytest.raises(ValueError, match="beyond loopback, needs a token"):
        make_server(app, "0.0.0.0")
