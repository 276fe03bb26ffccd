"""The review app's HTTP server: the standard library's, serving loopback by default.

Pages and scripts are package data (no CDN, no fonts or scripts from elsewhere, so the page
works offline).  The log names method, path and status only: paths carry record and page
numbers, never letter text, and search happens in the page.  Requests naming another host are
refused (a web page elsewhere cannot reach the app through DNS rebinding), as are requests for
letter data from another site's page (Origin, Sec-Fetch-Site); a save must be JSON, which a
cross-site form cannot send.  Beyond loopback every request needs the token printed at start.
Requests are bounded: WORKERS at once, REQUEST_TIMEOUT of silence, a body read whole or not used.
"""

from __future__ import annotations

import dataclasses
import hmac
import http.cookies
import importlib.resources
import ipaddress
import json
import logging
import re
import sys
import threading
import urllib.parse
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast, get_args

from extractor.confidence import THRESHOLD
from extractor.errors import ExtractionError
from extractor.fields import field_name
from extractor.review.batch import DocumentFinder
from extractor.review.corrections import CorrectionError, ReviewLog, SaveFailed, reviewed_values
from extractor.review.fields import FieldView, Flag, field_views, flags, other_checks, reason_kinds
from extractor.review.follow import follow_edits
from extractor.review.letters import Letter, Recent, read_letter, render_page
from extractor.schemas import Record
from extractor.schemas.review import Review, ReviewAction

log = logging.getLogger(__name__)

STATIC = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}
_PAGE = re.compile(r"/api/records/(\d+)/pages/(\d+)\.png")
_RECORD = re.compile(r"/api/records/(\d+)(/reviews)?")
MAX_BODY = 1 << 20
MAX_DEPTH = 32
"""How deep a save's JSON may nest: an item, the deepest value saved, is 4 levels below the body."""
SAME_ORIGIN = ("same-origin", "none")
"""Sec-Fetch-Site values answered on /api/: the page's own requests, and the address typed."""
REQUEST_TIMEOUT = 30.0
"""Seconds a connection may stay silent (headers or body) before it is dropped."""
WORKERS = 16
"""Requests served at once; the page makes a few at a time."""


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
            lambda: read_letter(self.finder.find(document.path, document.sha256), document.sha256),
        )

    def page(self, index: int, number: int) -> bytes:
        letter = self.letter(index)
        path = letter.path
        if path is None or letter.layout is None:
            raise LookupError(index)
        sha256 = self.records[index].document.sha256
        return self.pages.get_or_make((sha256, number), lambda: render_page(path, number))

    def queue(self) -> list[dict[str, Any]]:
        return [self._summary(index, record) for index, record in enumerate(self.records)]

    def _corrected(self, original: Record) -> tuple[Record, str | None]:
        """The record as reviewed, or as extracted with the reason its reviews no longer apply."""
        try:
            return self.log.corrected(original), None
        except CorrectionError as error:
            return original, f"its reviews no longer apply ({error})"

    def _views(self, original: Record, text: str | None = None) -> tuple[Record, list[FieldView], str | None]:
        """The record as reviewed, its fields (edited ones' evidence found anew in ``text``, the
        letter's, when given), and why its reviews no longer apply, if they do not."""
        record, problem = self._corrected(original)
        settled = {} if problem else reviewed_values(self.log.reviews(original))
        record = follow_edits(record, settled, text)
        return record, field_views(record, settled), problem

    def _summary(self, index: int, original: Record) -> dict[str, Any]:
        reviews = self.log.reviews(original)
        record, views, problem = self._views(original)
        found = flags(record, views)
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
            "statuses": sorted({view.status for view in views}),
            "needs_review": original.needs_review,
            "reviewed": bool(reviews),
            "done": _done(reviews, views, found),
            "edits": sum(review.action != "accept" for review in reviews),
            "review_problem": problem,
            "flags": len(found),
            "first_reason": found[0].reason if found else None,
            "reasons": sorted({kind for flag in found for kind in reason_kinds(flag.reason)}),
            "flagged_fields": sorted({field_name(flag.path) for flag in found}),
            "least_confidence": min(original.confidence.values(), default=None),
        }

    def detail(self, index: int) -> dict[str, Any]:
        lines = self.log.lines(self.records[index])
        return self.details.get_or_make((index, lines), lambda: self._detail(index))

    def _detail(self, index: int) -> dict[str, Any]:
        original = self.records[index]
        letter = self.letter(index)
        record, views, _ = self._views(original, letter.text)
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
            "threshold": THRESHOLD,
            "letter": {
                "kind": "pdf" if layout else "text" if letter.text is not None else "missing",
                "pages": [[page.width, page.height] for page in layout.pages] if layout else [],
                "text": letter.text if layout is None else None,
                "problem": letter.problem,
                "sha256": original.document.sha256,
            },
        }

    def save(self, index: int, body: dict[str, Any]) -> dict[str, Any]:
        """Check and append one review (CorrectionError, or SaveFailed with the log as it was)."""
        action = body.get("action")
        if action not in get_args(ReviewAction):
            raise CorrectionError(f"unknown action {action!r}")
        if not isinstance(body.get("field"), str | None):
            raise CorrectionError("field is a path such as determination.items[0].category")
        self.log.save(
            self.records[index], cast(ReviewAction, action), self.who, body.get("field"), body.get("new")
        )
        return self.detail(index)


def _done(reviews: list[Review], views: list[FieldView], found: list[Flag]) -> bool:
    """Whether a person has finished with the record: accepted it whole, or settled (accepted
    or edited) every flagged value it has."""
    if any(review.action == "accept" and review.field is None for review in reviews):
        return True
    settled = {view.path for view in views if view.settled}
    return bool(found) and all(flag.path in settled for flag in found)


def loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def make_server(
    app: ReviewApp,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    timeout: float = REQUEST_TIMEOUT,
) -> ThreadingHTTPServer:
    """A server for ``app`` bound to ``host``:``port`` (0: a free port); call ``serve_forever``.

    Beyond loopback a ``token`` is required, and every request must carry it (``?token=``, then
    the cookie the page is given); any Host is then answered, since the app cannot know the
    names it is reached by, and a page elsewhere that rebinds its name to the app has no token.
    """
    if token is None and not loopback(host):
        raise ValueError(f"serving on {host}, beyond loopback, needs a token")

    class Handler(_Handler):
        review = app

    Handler.timeout = timeout
    Handler.token = token
    server = _BoundedServer((host, port), Handler)
    Handler.cookie = f"review_token_{server.server_port}"  # a cookie is sent to every port of a host
    names = ("127.0.0.1", "localhost", "[::1]", host if ":" not in host else f"[{host}]")
    if token is None:
        Handler.hosts = frozenset(f"{name}:{server.server_port}" for name in names)
    else:
        Handler.hosts = None
    return server


class _BoundedServer(ThreadingHTTPServer):
    """At most WORKERS requests at once: the next connection waits in the listen queue, and a
    client that stalls is dropped after the request timeout, so it cannot hold a thread for good."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(WORKERS)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, not the standard library's traceback on stderr (which may quote a request)."""
        log.error("a request failed (%s)", type(sys.exc_info()[1]).__name__)


class _Refused(Exception):
    """A request answered with ``status`` and a one-line reason, nothing done."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _content_length(values: list[str] | None) -> int:
    """The body's length from its Content-Length headers (one value, 1 to MAX_BODY)."""
    if not values:
        raise _Refused(HTTPStatus.LENGTH_REQUIRED, "a save needs a Content-Length")
    if len(set(values)) != 1 or not (values[0].isascii() and values[0].strip().isdigit()):
        raise _Refused(HTTPStatus.BAD_REQUEST, "the Content-Length is not a number")
    length = int(values[0])
    if length > MAX_BODY:
        raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a save is at most {MAX_BODY} bytes")
    if length == 0:
        raise _Refused(HTTPStatus.BAD_REQUEST, "a save is a JSON object")
    return length


_NOT_PLAIN = f"a save is plain JSON, nested at most {MAX_DEPTH} deep"


def _parse_body(data: bytes) -> dict[str, Any]:
    """A save's body: a JSON object in UTF-8, nested at most MAX_DEPTH deep."""
    try:
        body = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Refused(HTTPStatus.BAD_REQUEST, "a save is JSON in UTF-8") from None
    except json.JSONDecodeError as error:
        raise _Refused(HTTPStatus.BAD_REQUEST, f"a save is JSON ({error.msg} at {error.pos})") from None
    except (RecursionError, ValueError):  # nested past the parser's stack; a 5,000-digit number
        raise _Refused(HTTPStatus.BAD_REQUEST, _NOT_PLAIN) from None
    if _nesting(body) > MAX_DEPTH:
        raise _Refused(HTTPStatus.BAD_REQUEST, _NOT_PLAIN)
    if not isinstance(body, dict):
        raise _Refused(HTTPStatus.UNPROCESSABLE_ENTITY, "a save is a JSON object")
    return body


def _nesting(value: object) -> int:
    """How deep ``value`` nests (a scalar: 1), counted without recursion."""
    depth, layer = 0, [value]
    while layer:
        depth += 1
        layer = [
            child
            for node in layer
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
    return depth


class _Handler(BaseHTTPRequestHandler):
    review: ReviewApp
    hosts: frozenset[str] | None = frozenset()
    """The Host headers answered (``name:port``); None when any is (with a token)."""
    token: str | None = None
    cookie = "review_token"
    server_version = "extractor-review"

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing by default: ``log_request`` logs method, path and status, the error path its code."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.info("%s %s %s", self.command, self.path.split("?")[0], code)

    def do_GET(self) -> None:
        if not self._allowed():
            return
        path = self.path.split("?")[0]
        if path in ("/", "/index.html") and self._token_in_url():
            self._token_to_cookie()
        elif path in ("/", "/index.html"):
            self._static("index.html")
        elif path.startswith("/static/") and path.removeprefix("/static/") in STATIC:
            self._static(path.removeprefix("/static/"))
        elif path == "/favicon.ico":
            self._send(b"", "image/x-icon", status=HTTPStatus.NO_CONTENT)
        elif path == "/api/queue":
            self._json(self.review.queue())
        elif (match := _PAGE.fullmatch(path)) and self._known(int(match.group(1))):
            self._page(int(match.group(1)), int(match.group(2)))
        elif (match := _RECORD.fullmatch(path)) and not match.group(2) and self._known(int(match.group(1))):
            self._json(self.review.detail(int(match.group(1))))
        else:
            self._error(HTTPStatus.NOT_FOUND, "not found")

    def do_POST(self) -> None:
        if not self._allowed():
            return
        match = _RECORD.fullmatch(self.path.split("?")[0])
        if not (match and match.group(2) and self._known(int(match.group(1)))):
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        try:
            self._json(self.review.save(int(match.group(1)), self._body()))
        except _Refused as refused:
            self._error(refused.status, str(refused))
        except CorrectionError as error:
            self._error(HTTPStatus.UNPROCESSABLE_ENTITY, str(error))
        except SaveFailed as error:
            self._error(HTTPStatus.INSUFFICIENT_STORAGE, str(error))

    def _page(self, index: int, number: int) -> None:
        try:
            image = self.review.page(index, number)
        except (LookupError, ValueError):
            self._error(HTTPStatus.NOT_FOUND, "no such page")
        except ExtractionError as error:
            self._error(HTTPStatus.UNPROCESSABLE_ENTITY, f"the page cannot be shown ({error.kind})")
        else:
            self._send(image, "image/png", cache=True)

    def _body(self) -> dict[str, Any]:
        """The save's JSON object, read whole: a body that stops short or stalls is never saved."""
        if self.headers.get_content_type() != "application/json":
            raise _Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "a save is a JSON object")
        length = _content_length(self.headers.get_all("Content-Length"))
        try:
            data = self.rfile.read(length)
        except TimeoutError:
            raise _Refused(HTTPStatus.REQUEST_TIMEOUT, "the save did not arrive in time") from None
        if len(data) < length:
            raise _Refused(HTTPStatus.BAD_REQUEST, "the save ended before its Content-Length")
        return _parse_body(data)

    def _known(self, index: int) -> bool:
        return 0 <= index < len(self.review.records)

    def _allowed(self) -> bool:
        refusal = self._refusal()
        if refusal is not None:
            self._error(HTTPStatus.FORBIDDEN, refusal)
        return refusal is None

    def _refusal(self) -> str | None:
        """Why this request is not answered, or None.  A page elsewhere cannot reach the app by
        DNS rebinding (the Host), read or save through a visitor's browser (the Origin, and
        Sec-Fetch-Site, which browsers send with an <img> too) or, beyond loopback, at all (the token)."""
        host, origin = self.headers.get("Host"), self.headers.get("Origin")
        if self.hosts is not None and host not in self.hosts:
            return "this app answers only requests addressed to it"
        site = self.headers.get("Sec-Fetch-Site", "none") if self.path.startswith("/api/") else "none"
        if (origin is not None and origin != f"http://{host}") or site not in SAME_ORIGIN:
            return "this app answers only its own page"
        if self.token is not None and not (self._token_in_url() or self._token_in_cookie()):
            return "open the address the review server printed: this one needs its token"
        return None

    def _token_in_url(self) -> bool:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        return self._is_token(query.get("token", [None])[0])

    def _token_in_cookie(self) -> bool:
        cookies: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        try:
            cookies.load(self.headers.get("Cookie") or "")
        except http.cookies.CookieError:
            return False
        morsel = cookies.get(self.cookie)
        return self._is_token(morsel.value if morsel is not None else None)

    def _is_token(self, given: str | None) -> bool:
        """Whether ``given`` is the token, compared in constant time."""
        return (
            self.token is not None
            and given is not None
            and hmac.compare_digest(given.encode(), self.token.encode())
        )

    def _static(self, name: str) -> None:
        data = importlib.resources.files("extractor.review").joinpath("static", name).read_bytes()
        self._send(data, STATIC[name])

    def _json(self, value: object) -> None:
        self._send(json.dumps(value).encode("utf-8"), "application/json")

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._send(json.dumps({"error": message}).encode("utf-8"), "application/json", status=status)

    def _token_to_cookie(self) -> None:
        """Back to the page with the token in a cookie: out of the address bar and the history."""
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", "/")
        self.send_header("Set-Cookie", f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict")
        self.send_header("Content-Length", "0")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()

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
