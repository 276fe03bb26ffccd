"""A deadline and a size limit for each whole HTTP request of the LLM pass.

httpx's timeouts bound each connect, write and read, not the request: an endpoint that sends
one byte every few seconds keeps every read under the timeout and the request open forever.
These transports end a request (connecting, sending, the headers and the whole body) once its
deadline passes, with ``httpx2.ReadTimeout``, which the openai client reports as a timeout and
the transport retries then type as ``llm_timeout``.

Async: every wait runs under ``asyncio.timeout_at(deadline)``.  Sync: a blocking read cannot
be cancelled, so a timer shuts the request's socket down at the deadline, which ends the read
at once; connections are not kept alive, so each request's socket is the one it opened.

The body is read up to ``limit`` bytes (a Content-Length over it is refused before a byte is
read): past it, ``LLMInvalidOutput``, which the openai client wraps as a connection error and
the retry policy finds under it (``retry.refused``), final.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2

from extractor.errors import LLMInvalidOutput

ASYNC_LIMITS = httpx2.Limits(max_connections=None, max_keepalive_connections=100)
"""Concurrency is bounded by the batch's --concurrency, not by the pool."""
SYNC_LIMITS = httpx2.Limits(max_connections=None, max_keepalive_connections=0)


def _expired(seconds: float) -> httpx2.ReadTimeout:
    return httpx2.ReadTimeout(f"no whole answer within {seconds:g} s")


def _too_large(limit: int) -> LLMInvalidOutput:
    return LLMInvalidOutput(f"the answer is longer than the {limit:,} bytes an answer can take")


def _refuse_declared(response: httpx2.Response, limit: int) -> None:
    """Refuse an answer whose Content-Length says it is over ``limit``, before reading it."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)


class _Counter:
    """The bytes of one body read so far; refuses the chunk that takes them past ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.read = 0

    def __call__(self, chunk: bytes) -> bytes:
        self.read += len(chunk)
        if self.read > self.limit:
            raise _too_large(self.limit)
        return chunk


class _Watchdog:
    """Shuts down the sockets one sync request opened when its deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's ``trace`` extension: note each socket the request connects."""
        if name not in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sockets.append(sock)
                if self.expired:  # connected just as the deadline passed
                    _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()

    @contextlib.contextmanager
    def enforced(self) -> Iterator[None]:
        """A transport error caused by the deadline becomes the timeout it is."""
        try:
            yield
        except httpx2.TransportError as error:
            self.cancel()
            if self.expired:
                raise _expired(self.seconds) from error
            raise


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class DeadlineTransport(httpx2.BaseTransport):
    """``httpx2.HTTPTransport`` with a deadline of ``seconds`` for each whole request, and
    bodies of at most ``limit`` bytes."""

    def __init__(self, seconds: float, limit: int) -> None:
        self.seconds = seconds
        self.limit = limit
        self._inner = httpx2.HTTPTransport(limits=SYNC_LIMITS)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        watchdog = _Watchdog(self.seconds)
        request.extensions = {**request.extensions, "trace": watchdog.trace}
        with watchdog.enforced():
            response = self._inner.handle_request(request)
        try:
            _refuse_declared(response, self.limit)
        except LLMInvalidOutput:
            watchdog.cancel()
            response.close()
            raise
        response.stream = _SyncStream(response.stream, watchdog, _Counter(self.limit))
        return response

    def close(self) -> None:
        self._inner.close()


class _SyncStream(httpx2.SyncByteStream):
    def __init__(self, inner: Any, watchdog: _Watchdog, counter: _Counter) -> None:
        self._inner = inner
        self._watchdog = watchdog
        self._counter = counter

    def __iter__(self) -> Iterator[bytes]:
        with self._watchdog.enforced():
            yield from map(self._counter, self._inner)

    def close(self) -> None:
        self._watchdog.cancel()
        self._inner.close()


class AsyncDeadlineTransport(httpx2.AsyncBaseTransport):
    """The async twin of :class:`DeadlineTransport`."""

    def __init__(self, seconds: float, limit: int) -> None:
        self.seconds = seconds
        self.limit = limit
        self._inner = httpx2.AsyncHTTPTransport(limits=ASYNC_LIMITS)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline = asyncio.get_running_loop().time() + self.seconds
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._inner.handle_async_request(request)
        except TimeoutError as error:
            raise _expired(self.seconds) from error
        try:
            _refuse_declared(response, self.limit)
        except LLMInvalidOutput:
            await response.aclose()
            raise
        response.stream = _AsyncStream(response.stream, deadline, self.seconds, _Counter(self.limit))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AsyncStream(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, deadline: float, seconds: float, counter: _Counter) -> None:
        self._inner = inner
        self._deadline = deadline
        self._seconds = seconds
        self._counter = counter

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = aiter(self._inner)
        while True:
            try:
                async with asyncio.timeout_at(self._deadline):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError as error:
                raise _expired(self._seconds) from error
            yield self._counter(chunk)

    async def aclose(self) -> None:
        await self._inner.aclose()
