"""The review app's HTTP server: the standard library's, serving loopback by default.

Pages and scripts are package data (no CDN, no fonts or scripts from elsewhere, so the page
works offline).  The log names method, path and status only: paths carry record and page
numbers, never letter text, and search happens in the page.  Requests naming another host are
refused (a web page elsewhere cannot reach the app through DNS rebinding), and a save must be
JSON, which a cross-site form cannot send.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import logging
import re
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast, get_args

from extractor.review.batch import DocumentFinder
from extractor.review.corrections import CorrectionError, ReviewLog
from extractor.review.fields import field_views, other_checks
from extractor.review.letters import Letter, Recent, read_letter, render_page
from extractor.schemas import Record
from extractor.schemas.review import ReviewAction

log = logging.getLogger(__name__)

STATIC = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}
_PAGE = re.compile(r"/api/records/(\d+)/pages/(\d+)\.png")
_RECORD = re.compile(r"/api/records/(\d+)(/reviews)?")
MAX_BODY = 1 << 20
WILDCARDS = ("0.0.0.0", "::", "")


@dataclasses.dataclass
class ReviewApp:
    """What the server serves: the batch's records, their letters, and the review log."""

    records: list[Record]
    finder: DocumentFinder
    log: ReviewLog
    who: str
    letters: Recent[Letter] = dataclasses.field(default_factory=lambda: Recent(64))
    pages: Recent[bytes] = dataclasses.field(default_factory=lambda: Recent(512))
    details: Recent[dict[str, Any]] = dataclasses.field(default_factory=lambda: Recent(128))
    """A record's page data, by its index and how many review lines it has (they only grow)."""

    def letter(self, index: int) -> Letter:
        document = self.records[index].document
        return self.letters.get_or_make(
            (document.path, document.sha256),
            lambda: read_letter(self.finder.find(document.path), document.sha256),
        )

    def page(self, index: int, number: int) -> bytes:
        document = self.records[index].document
        path = self.finder.find(document.path)
        if path is None or self.letter(index).layout is None:
            raise LookupError(index)
        return self.pages.get_or_make((document.sha256, number), lambda: render_page(path, number))

    def queue(self) -> list[dict[str, Any]]:
        return [self._summary(index, record) for index, record in enumerate(self.records)]

    def _corrected(self, original: Record) -> tuple[Record, str | None]:
        """The record as reviewed, or as extracted with the reason its reviews no longer apply."""
        try:
            return self.log.corrected(original), None
        except CorrectionError as error:
            return original, f"its reviews no longer apply ({error})"

    def _summary(self, index: int, original: Record) -> dict[str, Any]:
        reviews = self.log.reviews(original)
        record, problem = self._corrected(original)
        items = record.determination.items
        decisions = Counter(item.decision.value for item in items)
        return {
            "index": index,
            "id": record.document.id,
            "path": record.document.path,
            "case_number": record.determination.case.case_number,
            "upheld": decisions["Upheld"],
            "overturned": decisions["Overturned"],
            "categories": sorted({item.category.value for item in items}),
            "requests": [item.request for item in items],
            "disagree": sum(check.status == "disagree" for check in original.checks),
            "statuses": sorted({view.status for view in field_views(record)}),
            "needs_review": original.needs_review,
            "reviewed": bool(reviews),
            "edits": sum(review.action != "accept" for review in reviews),
            "review_problem": problem,
        }

    def detail(self, index: int) -> dict[str, Any]:
        reviews = len(self.log.reviews(self.records[index]))
        return self.details.get_or_make((index, reviews), lambda: self._detail(index))

    def _detail(self, index: int) -> dict[str, Any]:
        original = self.records[index]
        record, _ = self._corrected(original)
        views = field_views(record)
        letter = self.letter(index)
        boxes: dict[str, list[dict[str, float]]] = {}
        if letter.layout is not None:
            boxes = {
                view.path: [dataclasses.asdict(box) for box in letter.layout.boxes(view.spans)]
                for view in views
                if view.spans
            }
        layout = letter.layout
        return {
            **self._summary(index, original),
            "fields": [view.as_json() for view in views],
            "other_checks": [check.model_dump(mode="json") for check in other_checks(record, views)],
            "reviews": [review.model_dump(mode="json") for review in self.log.reviews(original)],
            "boxes": boxes,
            "letter": {
                "kind": "pdf" if layout else "text" if letter.text is not None else "missing",
                "pages": [[page.width, page.height] for page in layout.pages] if layout else [],
                "text": letter.text if layout is None else None,
                "problem": letter.problem,
                "sha256": original.document.sha256,
            },
        }

    def save(self, index: int, body: dict[str, Any]) -> dict[str, Any]:
        action = body.get("action")
        if action not in get_args(ReviewAction):
            raise CorrectionError(f"unknown action {action!r}")
        if not isinstance(body.get("field"), str | None):
            raise CorrectionError("field is a path such as determination.items[0].category")
        self.log.save(
            self.records[index], cast(ReviewAction, action), self.who, body.get("field"), body.get("new")
        )
        return self.detail(index)


def make_server(app: ReviewApp, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server for ``app`` bound to ``host``:``port`` (0: a free port); call ``serve_forever``."""

    class Handler(_Handler):
        review = app

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    names = ("127.0.0.1", "localhost", "[::1]", host if ":" not in host else f"[{host}]")
    Handler.hosts = None if host in WILDCARDS else frozenset(f"{name}:{server.server_port}" for name in names)
    return server


class _Handler(BaseHTTPRequestHandler):
    review: ReviewApp
    hosts: frozenset[str] | None = frozenset()
    """The Host headers answered (``name:port``); None when serving every address."""
    server_version = "extractor-review"

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing by default: ``log_request`` logs method, path and status, the error path its code."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info("%s %s %s", self.command, self.path.split("?")[0], code)

    def do_GET(self) -> None:
        if not self._same_host():
            return
        path = self.path.split("?")[0]
        if path in ("/", "/index.html"):
            self._static("index.html")
        elif path.startswith("/static/") and path.removeprefix("/static/") in STATIC:
            self._static(path.removeprefix("/static/"))
        elif path == "/favicon.ico":
            self._send(b"", "image/x-icon", status=HTTPStatus.NO_CONTENT)
        elif path == "/api/queue":
            self._json(self.review.queue())
        elif (match := _PAGE.fullmatch(path)) and self._known(int(match.group(1))):
            try:
                image = self.review.page(int(match.group(1)), int(match.group(2)))
            except (LookupError, ValueError):
                self._error(HTTPStatus.NOT_FOUND, "no such page")
                return
            self._send(image, "image/png", cache=True)
        elif (match := _RECORD.fullmatch(path)) and not match.group(2) and self._known(int(match.group(1))):
            self._json(self.review.detail(int(match.group(1))))
        else:
            self._error(HTTPStatus.NOT_FOUND, "not found")

    def do_POST(self) -> None:
        if not self._same_host():
            return
        match = _RECORD.fullmatch(self.path)
        if not (match and match.group(2) and self._known(int(match.group(1)))):
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get_content_type() != "application/json" or not 0 < length <= MAX_BODY:
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "a save is a JSON object")
            return
        try:
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise CorrectionError("a save is a JSON object")
            self._json(self.review.save(int(match.group(1)), body))
        except (CorrectionError, json.JSONDecodeError) as error:
            self._error(HTTPStatus.UNPROCESSABLE_ENTITY, str(error))

    def _known(self, index: int) -> bool:
        return 0 <= index < len(self.review.records)

    def _same_host(self) -> bool:
        host, origin = self.headers.get("Host"), self.headers.get("Origin")
        if self.hosts is None or (
            host in self.hosts and (origin is None or origin.removeprefix("http://") in self.hosts)
        ):
            return True
        self._error(HTTPStatus.FORBIDDEN, "this app answers only requests addressed to it")
        return False

    def _static(self, name: str) -> None:
        data = importlib.resources.files("extractor.review").joinpath("static", name).read_bytes()
        self._send(data, STATIC[name])

    def _json(self, value: object) -> None:
        self._send(json.dumps(value).encode("utf-8"), "application/json")

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._send(json.dumps({"error": message}).encode("utf-8"), "application/json", status=status)

    def _send(self, data: bytes, kind: str, status: HTTPStatus = HTTPStatus.OK, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8" if kind.startswith("text") else kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "private, max-age=86400, immutable" if cache else "no-store")
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self'; style-src 'self'")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
