"""A whole-request deadline: an endpoint that dribbles its answer ends in llm_timeout.

The endpoint is a loopback server built here: it answers each request with valid headers (or
dribbles the headers too), then one body byte every ``EVERY`` seconds, never finishing the
body.  It stops by itself after ``DRIBBLE_FOR`` seconds per connection, or when the test ends.
Without a deadline per request the client would wait for that end and report a dropped
connection, so ending in ``llm_timeout`` is itself the proof that the deadline fired; the
bound asserted (well under ``DRIBBLE_FOR``) only restates it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractor.errors import LLMTimeout
from extractor.jobs import BatchOptions, run_batch
from extractor.llm import LLMConfig, aextract_with_llm, extract_with_llm
from tests.documents import require_letter

EVERY = 0.2
DRIBBLE_FOR = 30.0
TIMEOUT = 1.0
TRIES = 2
BOUND = DRIBBLE_FOR / 2
"""Each try ends at its deadline: about TRIES * TIMEOUT seconds, far under this bound."""
LETTER = "IMR ISSUES, DECISIONS AND RATIONALES\nMRI of the right shoulder: Upheld\n"
HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"


class Dribbler:
    """A loopback HTTP endpoint that never finishes an answer (see the module docstring)."""

    def __init__(self, *, dribble_headers: bool = False) -> None:
        self.dribble_headers = dribble_headers
        self.requests = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._threads: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    def __enter__(self) -> Dribbler:
        self._start(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._start(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            if not _read_request(connection):
                return
            self.requests += 1
            body = b'{"id": "x", ' + b" " * 99_988
            head, body = (b"", HEADERS) if self.dribble_headers else (HEADERS, body)
            ends = time.monotonic() + DRIBBLE_FOR
            try:
                connection.sendall(head)
                for byte in body:
                    if self._stop.wait(EVERY) or time.monotonic() > ends:
                        return
                    connection.sendall(bytes([byte]))
            except OSError:  # the client gave up: what the deadline is for
                return


def _read_request(connection: socket.socket) -> bool:
    """Read one request's headers and body; False when the client went away first."""
    connection.settimeout(10)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lengths = (
            line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        length = int(next(lengths, b"0"))
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                return False
            body += chunk
    except OSError:
        return False
    return True


@pytest.fixture(params=[False, True], ids=["dribbled-body", "dribbled-headers"])
def dribbler(request: pytest.FixtureRequest) -> Iterator[Dribbler]:
    with Dribbler(dribble_headers=request.param) as server:
        yield server


def config(server: Dribbler) -> LLMConfig:
    return LLMConfig(
        base_url=server.base_url,
        api_key="sk-test-deadline",
        model="test-model",
        timeout=TIMEOUT,
        transport_retries=TRIES - 1,
        backoff_initial=0,
        backoff_max=1,
    )


def test_a_dribbling_endpoint_is_a_timeout(dribbler: Dribbler) -> None:
    started = time.monotonic()
    with pytest.raises(LLMTimeout, match=f"within {TIMEOUT:g} s \\({TRIES} tries\\)"):
        extract_with_llm(LETTER, config(dribbler))
    assert time.monotonic() - started < BOUND
    assert dribbler.requests == TRIES


def test_a_dribbling_endpoint_is_a_timeout_async(dribbler: Dribbler) -> None:
    started = time.monotonic()
    with pytest.raises(LLMTimeout, match=f"within {TIMEOUT:g} s"):
        asyncio.run(aextract_with_llm(LETTER, config(dribbler)))
    assert time.monotonic() - started < BOUND
    assert dribbler.requests == TRIES


def test_a_batch_against_a_dribbling_endpoint_types_every_letter(tmp_path: Path) -> None:
    letter = require_letter("seeds/000_bcbad93b04dfc64b.txt")
    with Dribbler() as server:
        started = time.monotonic()
        options = BatchOptions(out=tmp_path / "out", backend="llm", llm_config=config(server), workers=1)
        summary = run_batch([str(letter)], options)
    assert time.monotonic() - started < BOUND
    assert summary["errors_by_type"] == {"llm_timeout": 1}
    (line,) = (tmp_path / "out" / "errors.jsonl").read_text().splitlines()
    assert json.loads(line)["error"]["type"] == "llm_timeout"
