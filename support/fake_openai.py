"""A scripted OpenAI-compatible endpoint on 127.0.0.1, for tests and benchmarks.

One real HTTP server (``http.server`` in a background thread, on a free port) that answers
``POST /v1/chat/completions`` with scripted steps, so the real openai client, instructor and
tenacity run exactly as they do against a hosted model, faults included::

    from support.fake_openai import FakeOpenAI, completion, status

    with FakeOpenAI(script=[status(429, headers={"Retry-After": "0"}), completion(ANSWER)]) as fake:
        record = extract(letter, backend="hybrid", llm_config=LLMConfig(base_url=fake.base_url))
    assert len(fake.requests) == 2

Each request takes the next step of ``script`` (or, first, of the ``when`` queue whose key
the request's messages contain, e.g. a letter's case number); when those are used up,
``default`` answers (a step, or a function of the request giving one; :func:`perfect`
answers what a perfect model would).  Without a default an unscripted request gets HTTP 418,
which the client does not retry, and shows as ``step == "unscripted"`` in ``requests``; a
responder that raises gets HTTP 418 too, its exception kept in ``errors``.

Steps: :func:`completion` (a tool call with the given arguments, as instructor's TOOLS mode
asks, or JSON content when the request names no tool), :func:`status` (429, 500, 503, ...),
:func:`delay` (an answer slower than the client's timeout), :func:`reset` (the connection
closed with a TCP reset and no answer), :func:`truncated_json` (the model's JSON cut off),
:func:`truncated_body` (the HTTP body cut off), :func:`chunked` (an answer sent without a
Content-Length), :func:`raw_body` (any bytes as the body), :func:`invalid_against_schema`
(well-formed JSON the schema refuses) and :func:`respond` (any function of the request).  Every
completion carries ``usage``, so token sums can be asserted.

``python -m support.fake_openai --latency 1.0`` serves :func:`perfect` answers until killed,
after printing its base URL (the batch benchmark runs it in its own process).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import itertools
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from extractor.rules import extract_rules

JSON = dict[str, Any]
Shape = Literal["auto", "tool", "content"]
StepKind = Literal["completion", "status", "delay", "reset", "truncated_body", "chunked", "respond"]
Arguments = JSON | str | Callable[["Received"], JSON | str]

DEFAULT_USAGE = (100, 20)
"""prompt_tokens and completion_tokens of a scripted completion unless it says otherwise."""

SAMPLE_ARGUMENTS: JSON = {
    "request": "MRI of the lumbar spine",
    "decision": "Upheld",
    "original_request": None,
    "category": "imaging",
    "body_regions": [{"region": "lumbar_spine", "side": None}],
    "authorized": None,
    "claims_administrator_guidelines": [],
    "reviewer_guidelines": [],
}
"""A valid ``Item`` tool call; :func:`truncated_json` cuts it off by default."""

CHUNK = 64 * 1024
"""Bytes per chunk of a :func:`chunked` answer."""

_ids = itertools.count(1)


@dataclass(frozen=True)
class Received:
    """One request as the server received it, and the kind of step that answered it."""

    method: str
    path: str
    headers: Mapping[str, str]
    """Header names in lower case."""
    json: Any
    """The body parsed as JSON (None when it is not JSON)."""
    step: str
    at: float = 0.0
    """``time.monotonic()`` when the request arrived: waits between requests are measured here."""

    @property
    def text(self) -> str:
        """The contents of the request's messages, joined: what a ``when`` key is looked for in."""
        messages = self.json.get("messages", []) if isinstance(self.json, dict) else []
        return "\n".join(
            str(message.get("content") or "") for message in messages if isinstance(message, dict)
        )

    @property
    def tool_name(self) -> str | None:
        """The function the request forces a call of (instructor's TOOLS mode), if any."""
        tools = self.json.get("tools") if isinstance(self.json, dict) else None
        if not tools:
            return None
        name = tools[0].get("function", {}).get("name")
        return str(name) if name is not None else None


Responder = Callable[[Received], "Step"]


@dataclass(frozen=True)
class Step:
    """One scripted answer; build it with the functions below rather than by hand."""

    kind: StepKind
    code: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    arguments: Arguments | None = None
    name: str | None = None
    shape: Shape = "auto"
    usage: tuple[int, int] = DEFAULT_USAGE
    finish_reason: str | None = None
    seconds: float = 0.0
    then: Step | None = None
    responder: Responder | None = None
    cut: float = 0.5


def completion(
    arguments: Arguments,
    *,
    name: str | None = None,
    shape: Shape = "auto",
    usage: tuple[int, int] = DEFAULT_USAGE,
    finish_reason: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Step:
    """A valid ``chat.completion`` whose answer is ``arguments`` (a dict, a JSON string, or a
    function of the request giving one).

    ``shape="tool"``: a tool call of ``name`` (default: the tool the request forces); ``"content"``:
    the JSON as the message content (instructor's JSON modes); ``"auto"``: a tool call when the
    request names a tool, else content.  ``usage`` is (prompt_tokens, completion_tokens).
    """
    return Step(
        "completion",
        arguments=arguments,
        name=name,
        shape=shape,
        usage=usage,
        finish_reason=finish_reason,
        headers=dict(headers or {}),
    )


def status(code: int, *, headers: Mapping[str, str] | None = None, body: Any = None) -> Step:
    """An HTTP error answer (JSON error body unless ``body`` is given): 429, 500, 503, 401 ..."""
    return Step("status", code=code, headers=dict(headers or {}), body=body)


def delay(seconds: float, then: Step | None = None) -> Step:
    """Wait ``seconds`` (make it longer than the client's timeout), then answer ``then``
    (default: what ``default`` would answer).  Stopping the server ends the wait at once."""
    return Step("delay", seconds=seconds, then=then)


def reset() -> Step:
    """Close the connection with a TCP reset, without a byte of answer."""
    return Step("reset")


def truncated_json(
    arguments: JSON | None = None, *, cut: float = 0.5, usage: tuple[int, int] = DEFAULT_USAGE
) -> Step:
    """A well-formed completion whose tool-call arguments (the model's JSON) stop part-way."""
    text = json.dumps(arguments if arguments is not None else SAMPLE_ARGUMENTS)
    return completion(text[: max(1, int(len(text) * cut))], usage=usage)


def invalid_against_schema(arguments: JSON | None = None, *, usage: tuple[int, int] = DEFAULT_USAGE) -> Step:
    """Well-formed JSON that the response model refuses (default: ``case`` not an object, no items)."""
    return completion(arguments if arguments is not None else {"case": 5, "items": []}, usage=usage)


def truncated_body(then: Step | None = None, *, cut: float = 0.5) -> Step:
    """An HTTP 200 whose body (the ``chat.completion`` JSON of ``then``, by default the
    ``default`` answer) is cut part-way; the Content-Length is that of what is sent."""
    return Step("truncated_body", then=then, cut=cut)


def chunked(then: Step | None = None) -> Step:
    """The completion of ``then`` (by default the ``default`` answer) in chunked transfer
    encoding: no Content-Length says how long it is before it is read."""
    return Step("chunked", then=then)


def raw_body(data: bytes) -> Step:
    """An HTTP 200 whose body is ``data`` as it is: nested too deep, not UTF-8, not a completion."""
    return Step("status", code=200, body=data)


def respond(responder: Responder) -> Step:
    """Whatever ``responder`` makes of the request."""
    return Step("respond", responder=responder)


# --------------------------------------------------------------------------- the perfect model


_DECISIONS = "IMR ISSUES, DECISIONS AND RATIONALES"
_DATES = ("date_of_injury", "ur_denial_date", "application_received", "date_assigned")
BLOCK = "_block"
"""A scripted item's heading as the letter writes it, when its request says something else."""
_NOT_ASKED = ("rationale", "depends_on", "date_of_service", BLOCK)
"""An item's keys the Item response model does not ask for."""


def _letter(messages: Iterable[Mapping[str, Any]]) -> str:
    """The part of a letter inside the user message, where the prompt wraps it in tags."""
    content = str(next((m.get("content") for m in messages if m.get("role") == "user"), "") or "")
    start, end = content.find("<letter_part>"), content.rfind("</letter_part>")
    return content[start + len("<letter_part>") : end] if 0 <= start < end else content


def asked(body: Mapping[str, Any]) -> str:
    """Which response model a request asks for: ``Header``, ``Patient`` or ``Item`` (by its forced
    tool, or by the JSON Schema title a JSON mode writes into the messages)."""
    tools = body.get("tools") or []
    if tools:
        return str(tools[0]["function"]["name"])
    sent = json.dumps(body.get("messages", []))
    return next(name for name in ("Header", "Patient", "Item") if f'\\"title\\": \\"{name}\\"' in sent)


def _item(item: JSON) -> JSON:
    return {key: value for key, value in item.items() if key not in _NOT_ASKED}


@functools.lru_cache(maxsize=1024)
def _rules_answer(part: str, kind: str) -> str:
    """Cached, so a benchmark measures the batch rather than this server's rules pass."""
    # An item block alone: give the rules pass its section heading.
    determination = extract_rules(f"{_DECISIONS}\n{part}" if kind == "Item" else part).determination
    if determination.problems():  # keep the answer valid under the schema's date order
        for name in _DATES:
            setattr(determination.case, name, None)
    data = determination.model_dump(mode="json")
    if kind == "Item":
        return json.dumps(_item(data["items"][0]))
    return json.dumps(
        data["patient"] if kind == "Patient" else {"case": data["case"], "reviewer": data["reviewer"]}
    )


def perfect_arguments(body: Mapping[str, Any]) -> str:
    """What a perfect model fills for the request ``body`` (JSON): the rules pass's reading of
    the part of the letter in it, as the ``Header``, ``Patient`` or ``Item`` it asks for."""
    return _rules_answer(_letter(body.get("messages", [])), asked(body))


def _squeezed(text: str) -> str:
    return " ".join(text.split()).lower()


def served(whole: JSON) -> Callable[[Received], JSON]:
    """Arguments for :func:`completion` that answer each focused request with its share of
    ``whole`` (a determination: case, reviewer, patient, items): the header and reviewer, the
    patient, or the item whose request the block's heading holds (the longest such).  A block
    no item of ``whole`` matches raises, which the server answers with HTTP 418."""

    def share(received: Received) -> JSON:
        body = received.json if isinstance(received.json, dict) else {}
        kind = asked(body)
        if kind == "Header":
            return {"case": whole.get("case", {}), "reviewer": whole.get("reviewer", {})}
        if kind == "Patient":
            return dict(whole.get("patient", {}))
        block = _squeezed(_letter(body.get("messages", [])))
        heading = {id(item): _squeezed(item.get(BLOCK, item["request"])) for item in whole["items"]}
        matching = [item for item in whole["items"] if heading[id(item)] in block]
        if not matching:
            raise LookupError("no item of the scripted answer is in this block")
        return _item(max(matching, key=lambda item: len(heading[id(item)])))

    return share


def _estimated_usage(body: Mapping[str, Any], arguments: str) -> tuple[int, int]:
    prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
    return prompt, len(arguments) // 4


def perfect(received: Received) -> Step:
    """A responder: the perfect model's answer, with usage estimated at 4 characters a token."""
    body = received.json if isinstance(received.json, dict) else {}
    arguments = perfect_arguments(body)
    return completion(arguments, usage=_estimated_usage(body, arguments))


def perfect_completion(body: Mapping[str, Any]) -> JSON:
    """The ``chat.completion`` object :func:`perfect` answers the request ``body`` with."""
    received = Received("POST", "/v1/chat/completions", {}, dict(body), "completion")
    return chat_completion(perfect(received), received)


def chat_completion(step: Step, received: Received) -> JSON:
    """The ``chat.completion`` object of a completion step for one request."""
    arguments = step.arguments
    if callable(arguments):
        arguments = arguments(received)
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    tool = step.name or received.tool_name or "Item"
    as_tool = step.shape == "tool" or (step.shape == "auto" and received.tool_name is not None)
    message: JSON = {"role": "assistant", "content": text}
    if as_tool:
        call = {"id": f"call_{next(_ids)}", "type": "function", "function": {"name": tool, "arguments": text}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
    finish = step.finish_reason or ("tool_calls" if as_tool else "stop")
    prompt_tokens, completion_tokens = step.usage
    model = received.json.get("model", "fake") if isinstance(received.json, dict) else "fake"
    return {
        "id": f"chatcmpl-fake-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": finish, "message": message, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


# --------------------------------------------------------------------------- the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints do: the client reuses connections
    timeout = 30  # an idle kept-alive connection is let go after this long
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:  # the connection was reset (by us or the client)
            pass
        finally:
            self.server.owner._closed(self.connection)

    def do_POST(self) -> None:
        self.server.owner._serve(self)

    def do_GET(self) -> None:
        self.server.owner._serve(self)

    def log_message(self, format: str, *args: Any) -> None:  # one line per request is noise
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # FakeOpenAI.stop wakes and joins the threads itself
    request_queue_size = 1024  # a burst of new connections must not be refused

    def __init__(self, owner: FakeOpenAI) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address))
        thread.daemon = True
        with self.owner._lock:  # one thread per connection; forget those that are done
            self.owner._threads = [t for t in self.owner._threads if t.is_alive()] + [thread]
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-answer is what several steps are for


class FakeOpenAI:
    """The scripted endpoint; a context manager (or call :meth:`start` and :meth:`stop`).

    ``script``: steps for the requests in arrival order.  ``when``: per-key queues of steps,
    used first by a request whose messages contain the key.  ``default``: the step (or the
    function of the request) for everything else.  ``latency``: seconds every request waits
    before its answer.  ``headers``: added to every answer (e.g. to check they are not recorded).
    """

    def __init__(
        self,
        script: Iterable[Step] = (),
        *,
        default: Step | Responder | None = None,
        when: Mapping[str, Iterable[Step]] | None = None,
        latency: float = 0.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._script: deque[Step] = deque(script)
        self._when: dict[str, deque[Step]] = {key: deque(steps) for key, steps in (when or {}).items()}
        self.default = default
        self.latency = latency
        self.headers = dict(headers or {})
        self._requests: list[Received] = []
        self.errors: list[Exception] = []
        """Exceptions raised by responders (each answered HTTP 418): a test should find none."""
        self._lock = threading.Lock()
        self._in_flight = 0
        self.peak_in_flight = 0
        """The most chat requests this server was answering at one time."""
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._started = self._stopped = False

    # ----------------------------------------------------------------------- public

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what ``OPENAI_BASE_URL`` / ``LLMConfig.base_url`` take."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[Received]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def count(self, step: str | None = None) -> int:
        """How many requests arrived (only those answered by a ``step`` of that kind, if given)."""
        return sum(1 for r in self.requests if step is None or r.step == step)

    @property
    def unscripted(self) -> int:
        """Requests that found no step and no default (answered HTTP 418)."""
        return self.count("unscripted")

    def enqueue(self, *steps: Step, when: str | None = None) -> None:
        """Add steps at the end of the script (or of the ``when`` key's queue)."""
        with self._lock:
            queue = self._script if when is None else self._when.setdefault(when, deque())
            queue.extend(steps)

    @property
    def pending(self) -> int:
        """Scripted steps not used yet (the script and every ``when`` queue)."""
        with self._lock:
            return len(self._script) + sum(len(queue) for queue in self._when.values())

    def start(self) -> FakeOpenAI:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end every wait, close every connection and join every thread; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        if self._started:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # wake threads waiting on a kept-alive connection
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------------- serving

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _next(self, text: str) -> Step | None:
        with self._lock:
            for key, queue in self._when.items():
                if queue and key in text:
                    return queue.popleft()
            return self._script.popleft() if self._script else None

    def _resolve(self, step: Step | None, received: Received) -> Step | None:
        """The step to serve: ``default`` for none, responders called, until a concrete step."""
        for _ in range(10):
            if step is None:
                default = self.default
                step = default(received) if callable(default) else default
                if step is None:
                    return None
            if step.kind != "respond":
                return step
            assert step.responder is not None
            step = step.responder(received)
        raise RuntimeError("responders nested too deep")

    def _serve(self, handler: _Handler) -> None:
        at = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in handler.headers.items()}
        received = Received(handler.command, handler.path, headers, body, "pending", at)
        if handler.command == "GET" and handler.path.rstrip("/").endswith("/models"):
            self._log(received, "models")
            self._send(handler, 200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
            return
        if handler.command != "POST" or not handler.path.rstrip("/").endswith("/chat/completions"):
            self._log(received, "not_found")
            self._send(handler, 404, {"error": {"message": f"no route {handler.path}", "type": "not_found"}})
            return
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            try:
                step = self._resolve(self._next(received.text), received)
            except Exception as error:  # a responder's bug: say so, never hide it as a network fault
                self._log(received, "error")
                with self._lock:
                    self.errors.append(error)
                message = f"FakeOpenAI responder failed: {type(error).__name__}: {error}"
                self._send(handler, 418, {"error": {"message": message, "type": "responder_error"}})
                return
            self._log(received, step.kind if step is not None else "unscripted")
            if self.latency and self._stopping.wait(self.latency):
                return self._drop(handler)
            try:
                self._answer(handler, step, received)
            except Exception as error:  # e.g. a completion step's arguments function failed
                with self._lock:
                    self.errors.append(error)
                self._drop(handler)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _log(self, received: Received, step: str) -> None:
        with self._lock:
            self._requests.append(dataclasses.replace(received, step=step))

    def _answer(self, handler: _Handler, step: Step | None, received: Received) -> None:
        if step is None:
            error = {"message": "unscripted request: the FakeOpenAI script is used up", "type": "unscripted"}
            self._send(handler, 418, {"error": error})
        elif step.kind == "completion":
            self._send(handler, 200, chat_completion(step, received), step.headers)
        elif step.kind == "status":
            body = step.body if step.body is not None else {
                "error": {"message": f"scripted HTTP {step.code}", "type": "scripted", "code": step.code}
            }  # fmt: skip
            self._send(handler, step.code, body, step.headers)
        elif step.kind == "delay":
            if self._stopping.wait(step.seconds):
                return self._drop(handler)
            self._answer(handler, self._resolve(step.then, received), received)
        elif step.kind == "reset":
            self._drop(handler)
        elif step.kind in ("truncated_body", "chunked"):
            then = self._resolve(step.then, received)
            if then is None or then.kind != "completion":
                raise ValueError(f"{step.kind} needs a completion to send")
            data = json.dumps(chat_completion(then, received)).encode()
            if step.kind == "chunked":
                self._send(handler, 200, data, then.headers, chunked=True)
            else:
                self._send(handler, 200, data[: max(1, int(len(data) * step.cut))], then.headers)
        else:  # pragma: no cover - _resolve leaves no responder
            raise ValueError(f"unknown step {step.kind}")

    def _send(
        self,
        handler: _Handler,
        code: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        *,
        chunked: bool = False,
    ) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", "application/json")
            if chunked:
                handler.send_header("Transfer-Encoding", "chunked")
            else:
                handler.send_header("Content-Length", str(len(data)))
            for name, value in {**self.headers, **(headers or {})}.items():
                handler.send_header(name, value)
            handler.end_headers()
            if not chunked:
                handler.wfile.write(data)
                return
            for start in range(0, len(data), CHUNK):
                piece = data[start : start + CHUNK]
                handler.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client gave up waiting (a timeout) or went away
            handler.close_connection = True

    @staticmethod
    def _drop(handler: _Handler) -> None:
        """Close the connection with a TCP reset (SO_LINGER 0), answering nothing."""
        handler.close_connection = True
        connection = handler.connection
        try:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.rfile.close()  # the socket's file: its fd closes only when both are closed
            connection.close()
        except OSError:
            pass


def serve(latency: float = 1.0, default: Step | Responder = perfect) -> None:
    """Serve ``default`` answers after ``latency`` seconds until killed, after printing the base URL."""
    with FakeOpenAI(default=default, latency=latency) as fake:
        print(fake.base_url, flush=True)
        threading.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m support.fake_openai",
        description="An OpenAI-compatible endpoint on 127.0.0.1 answering what a perfect model would.",
    )
    parser.add_argument("--latency", type=float, default=1.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.latency)


if __name__ == "__main__":  # pragma: no cover
    main()
