"""The review app served on 127.0.0.1 in a thread, for the server and browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from extractor.review.batch import DocumentFinder, read_batch
from extractor.review.corrections import reviews_beside
from extractor.review.server import ReviewApp, make_server


@contextmanager
def serving(records: Path, who: str = "tester") -> Iterator[str]:
    """The app for ``records`` on a free loopback port; yields its URL."""
    log = reviews_beside(records)
    app = ReviewApp(read_batch(records), DocumentFinder(records.parent), log, who)
    server = make_server(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        log.close()
