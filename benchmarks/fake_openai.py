"""An OpenAI-compatible chat endpoint on 127.0.0.1 with a fixed latency, for benchmarks and tests.

Each answer is what a perfect model would say: the rules pass's reading of the letter in the
request, as the forced tool call the request asks for (or as JSON content when it names no
tool), so the batch's cross-check does its full work.  It is a threaded ``http.server``: one
thread per connection sleeps through the latency, so it serves any concurrency a client opens.

    python -m benchmarks.fake_openai --latency 1.0     # prints its base URL, serves until killed
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from extractor.rules import extract_rules

_ids = itertools.count(1)
_DECISIONS = "IMR ISSUES, DECISIONS AND RATIONALES"
_DATES = ("date_of_injury", "ur_denial_date", "application_received", "date_assigned")


def _letter(messages: list[dict[str, Any]]) -> str:
    """The letter (or part of one) inside the user message, where the prompt wraps it in tags."""
    content = str(next((m["content"] for m in messages if m.get("role") == "user"), ""))
    for tag in ("letter_part", "letter"):
        start, end = content.find(f"<{tag}>"), content.rfind(f"</{tag}>")
        if 0 <= start < end:
            return content[start + len(tag) + 2 : end]
    return content


def answer(body: dict[str, Any]) -> str:
    """The arguments a perfect model fills for ``body`` (JSON): the rules pass's determination."""
    tools = body.get("tools") or []
    items_only = bool(tools) and tools[0]["function"]["name"] == "Items"
    return _answer(_letter(body.get("messages", [])), items_only)


@functools.lru_cache(maxsize=1024)
def _answer(letter: str, items_only: bool) -> str:
    """Cached, so a benchmark measures the batch rather than this server's rules pass."""
    # A later part of a long letter is item blocks alone: give the rules their section heading.
    determination = extract_rules(f"{_DECISIONS}\n{letter}" if items_only else letter).determination
    if determination.problems():  # keep the answer valid under the schema's strict check
        for name in _DATES:
            setattr(determination.case, name, None)
    data = determination.model_dump(mode="json")
    for item in data["items"]:
        item.pop("rationale", None)
    return json.dumps({"items": data["items"]} if items_only else data)


def completion(body: dict[str, Any]) -> dict[str, Any]:
    """The ``chat.completion`` object the endpoint returns for the request ``body``."""
    arguments = answer(body)
    tools = body.get("tools") or []
    message: dict[str, Any] = {"role": "assistant", "content": arguments}
    if tools:
        function = {"name": tools[0]["function"]["name"], "arguments": arguments}
        call = {"id": f"call_{next(_ids)}", "type": "function", "function": function}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
    prompt_tokens = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
    completion_tokens = len(arguments) // 4
    return {
        "id": f"chatcmpl-fake-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "finish_reason": "stop", "message": message, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        if not self.path.endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        with self.server.lock:
            self.server.requests.append(body)
        time.sleep(self.server.latency)
        self._send(200, completion(body))

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request is noise
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a burst of new connections must not be refused

    def __init__(self, latency: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()


class FakeOpenAI:
    """The endpoint in a background thread: ``with FakeOpenAI(latency=0.1) as server: server.url``.

    ``requests`` holds every request body received, in arrival order.
    """

    def __init__(self, latency: float = 0.0) -> None:
        self._server = _Server(latency)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._server.requests

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=1.0, help="seconds before each answer")
    args = parser.parse_args()
    server = _Server(args.latency)
    host, port = server.server_address[:2]
    print(f"http://{host!s}:{port}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
