"""A deadline for each whole HTTP request of the LLM pass.

httpx's timeouts bound each connect, write and read, not the request: an endpoint that sends
one byte every few seconds keeps every read under the timeout and the request open forever.
These transports end a request (connecting, sending, the headers and the whole body) once its
deadline passes, with ``httpx2.ReadTimeout``, which the openai client reports as a timeout and
the transport retries then type as ``llm_timeout``.

Async: every wait runs under ``asyncio.timeout_at(deadline)``.  Sync: a blocking read cannot
be cancelled, so a timer shuts the request's socket down at the deadline, which ends the read
at once; connections are not kept alive, so each request's socket is the one it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2

ASYNC_LIMITS = httpx2.Limits(max_connections=None, max_keepalive_connections=100)
"""Concurrency is bounded by the batch's --concurrency, not by the pool."""
SYNC_LIMITS = httpx2.Limits(max_connections=None, max_keepalive_connections=0)


def _expired(seconds: float) -> httpx2.ReadTimeout:
    return httpx2.ReadTimeout(f"no whole answer within {seconds:g} s")


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
    """``httpx2.HTTPTransport`` with a deadline of ``seconds`` for each whole request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._inner = httpx2.HTTPTransport(limits=SYNC_LIMITS)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        watchdog = _Watchdog(self.seconds)
        request.extensions = {**request.extensions, "trace": watchdog.trace}
        with watchdog.enforced():
            response = self._inner.handle_request(request)
        response.stream = _SyncStream(response.stream, watchdog)
        return response

    def close(self) -> None:
        self._inner.close()


class _SyncStream(httpx2.SyncByteStream):
    def __init__(self, inner: Any, watchdog: _Watchdog) -> None:
        self._inner = inner
        self._watchdog = watchdog

    def __iter__(self) -> Iterator[bytes]:
        with self._watchdog.enforced():
            yield from self._inner

    def close(self) -> None:
        self._watchdog.cancel()
        self._inner.close()


class AsyncDeadlineTransport(httpx2.AsyncBaseTransport):
    """``httpx2.AsyncHTTPTransport`` with a deadline of ``seconds`` for each whole request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._inner = httpx2.AsyncHTTPTransport(limits=ASYNC_LIMITS)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline = asyncio.get_running_loop().time() + self.seconds
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._inner.handle_async_request(request)
        except TimeoutError as error:
            raise _expired(self.seconds) from error
        response.stream = _AsyncStream(response.stream, deadline, self.seconds)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AsyncStream(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, deadline: float, seconds: float) -> None:
        self._inner = inner
        self._deadline = deadline
        self._seconds = seconds

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
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()
