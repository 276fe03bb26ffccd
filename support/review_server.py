"""The review app served on 127.0.0.1, in a thread or as ``extractor review``, for the server,
browser and fault tests; and the requests they make to it."""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from extractor.review.batch import DocumentFinder, read_batch
from extractor.review.corrections import reviews_beside
from extractor.review.server import ReviewApp, make_server


@contextmanager
def serving(records: Path, who: str = "tester", **options: Any) -> Iterator[str]:
    """The app for ``records`` on a free loopback port, holding its review log as
    ``extractor review`` does; yields its URL.  ``options`` go to ``make_server``."""
    log = reviews_beside(records)
    log.hold()
    app = ReviewApp(read_batch(records), DocumentFinder(records.parent), log, who)
    server = make_server(app, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        log.close()


def fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def exchange(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request as given (no redirect followed, headers as they are): status, headers, body."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def start(*args: str, preexec_fn: Callable[[], object] | None = None) -> tuple[subprocess.Popen[str], str]:
    """``extractor review ARGS`` in a subprocess, and the URL it printed ("" if it exited)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "extractor", "review", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def stop(process: subprocess.Popen[str]) -> str:
    """Stop a server ``start`` started (as Ctrl-C would); its stderr."""
    process.terminate()
    return process.communicate(timeout=30)[1]
