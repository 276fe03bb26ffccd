"""Bounds on what reading one PDF may cost, enforced by the kernel in a reader process.

pdfium has no budget of its own: ``FPDF_LIBRARY_CONFIG`` sets fonts, renderer and V8 only, its
form-nesting limit still lets two forms that each draw the other twice grow as 2^depth, and a
flate stream is inflated whole.  So PDFs are read in a child process under ``RLIMIT_AS`` and
``RLIMIT_CPU`` while this process waits with a deadline; a child that dies of a limit becomes
:class:`PDFTooComplex` and this process (a batch's worker included) carries on.

The child is forked (nothing re-imported) once per process and reads one PDF after another:
forking one per PDF doubled the cost of reading a letter, as each new process faulted in
every page pdfium touched.  It retires after a read that took it past a quarter of the
budget, so every read starts with three quarters of it; and a read that took that much and
failed is reported as the limit reached, because pdfium may give up on an allocation quietly
and a PDF cut short by the limit must not be reported as damaged or as having no text.

``os.fork``, not ``multiprocessing``: that one's child flushes the parent's buffered stdout
when it exits, and ``os.wait4`` gives the child's peak memory, which tells a limit reached
from a crash.  The limits need Linux (fork, RLIMIT_AS, /proc); elsewhere PDFs are read in
process, unbounded, as before.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn, TypeVar, cast

from extractor.errors import PDFTooComplex, UnreadablePDF

if sys.platform == "linux":
    import resource

T = TypeVar("T")
MiB = 1024 * 1024
_HEADER = struct.Struct(">Q")
MEMORY_ENV = "EXTRACTOR_PDF_MEMORY_MB"
CPU_ENV = "EXTRACTOR_PDF_CPU_SECONDS"
_LATE_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class Limits:
    """What reading one PDF may cost: memory the reader may add, CPU seconds (and wall seconds).

    A sample letter takes ~10 ms and ~20 MiB, so the defaults stop only what a letter never
    needs; the wall-clock deadline is the CPU limit with room for a busy machine.
    """

    memory_mb: int = 512
    cpu_seconds: int = 20

    def __post_init__(self) -> None:
        if self.memory_mb < 1 or self.cpu_seconds < 1:
            raise ValueError("PDF reading limits must be at least 1 MiB and 1 second")

    @property
    def wall_seconds(self) -> float:
        return 3.0 * self.cpu_seconds

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, or EXTRACTOR_PDF_MEMORY_MB and EXTRACTOR_PDF_CPU_SECONDS (a batch's
        workers inherit them, so one setting covers the CLI, the library and the pool)."""
        return cls(_env_int(MEMORY_ENV, cls.memory_mb), _env_int(CPU_ENV, cls.cpu_seconds))


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    return int(value)


def run_limited(work: Callable[[], T], limits: Limits) -> T:
    """``work()`` run in this process's reader under ``limits``: its result, or its exception
    re-raised here.  A reader past a limit gives :class:`PDFTooComplex`; one that crashes below
    them, :class:`UnreadablePDF`."""
    return start_limited(work, limits)()


def start_limited(work: Callable[[], T], limits: Limits) -> Callable[[], T]:
    """:func:`run_limited` begun: the reader works on ``work`` while this process goes on, and
    the call returned waits for its result (the deadline counts from now).  Outside Linux the
    work is done in process, and the call returns its result or raises its error."""
    if sys.platform != "linux":
        return settled(work)
    return cast(Callable[[], T], _SLOT.start(work, limits))


def settled(work: Callable[[], T]) -> Callable[[], T]:
    """``work`` done now, its outcome kept for the call returned."""
    try:
        value = work()
    except Exception as error:
        return partial(_reraise, error)
    return lambda: value


def _reraise(error: Exception) -> NoReturn:
    raise error


class _Reader:
    """A forked child that runs one job after another under the limits it was started with."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.base_rss = _statm()[1]
        self.deadline = 0.0  # of the work sent last
        requests_in, self._requests = os.pipe()
        self._replies, replies_out = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            _close_all_but(requests_in, replies_out)
            _serve(requests_in, replies_out, limits)
        os.close(requests_in)
        os.close(replies_out)

    def alive(self) -> bool:
        """An idle reader writes nothing, so a reply pipe with anything to read means it died."""
        poller = select.poll()
        poller.register(self._replies, select.POLLIN)
        return not poller.poll(0)

    def send(self, work: Callable[[], object]) -> None:
        """Hand ``work`` to the reader, which starts on it at once; its deadline starts now."""
        self.deadline = time.monotonic() + self.limits.wall_seconds
        try:
            _send(self._requests, pickle.dumps(work, pickle.HIGHEST_PROTOCOL))
        except BaseException:
            self.stop()
            raise

    def receive(self) -> tuple[bool, Any, bool]:
        """(done, result or exception, strained) of the work sent; the reader is stopped, and
        the error raised, when anything goes wrong on the way (its death, the deadline, Ctrl-C)."""
        # A reply asked for late (this process was busy past the deadline) is still read whole.
        deadline = max(self.deadline, time.monotonic() + _LATE_GRACE_SECONDS)
        try:
            reply = _receive(self._replies, deadline)
            if reply is None:
                raise PDFTooComplex(f"reading took over {self.limits.wall_seconds:g} s (the limit)")
        except BaseException:
            self.stop()
            raise
        if not reply:
            status, usage = self.stop()
            raise _why_died(status, usage, usage.ru_maxrss * 1024 - self.base_rss, self.limits)
        return cast(tuple[bool, Any, bool], pickle.loads(reply))

    def stop(self) -> tuple[int, resource.struct_rusage]:
        """Kill (harmless when it has exited) and reap the reader: its wait status and usage."""
        self.forget()
        os.kill(self.pid, signal.SIGKILL)
        _, status, usage = os.wait4(self.pid, 0)
        return status, usage

    def forget(self) -> None:
        """Close this side's pipes: in a forked copy of the owner, all it may do."""
        for fd in (self._requests, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._requests = self._replies = -1  # their numbers may be reused: never close them twice


class _Slot:
    """This process's reader, started on first use and taken out of the slot while it works
    (pdfium is not thread-safe: a second job meanwhile gets a reader of its own)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reader: _Reader | None = None

    def start(self, work: Callable[[], object], limits: Limits) -> Callable[[], object]:
        """Send ``work`` to a reader: the call that waits for its result (or raises its error)."""
        with self.lock:
            reader = self._ready(limits)
        reader.send(work)  # a reader that fails is stopped
        return partial(self._finish, reader, limits)

    def _finish(self, reader: _Reader, limits: Limits) -> object:
        done, value, strained = reader.receive()  # a reader that fails is stopped
        with self.lock:
            if strained or self.reader is not None:
                reader.stop()
            else:
                self.reader = reader
        if done:
            return value
        if isinstance(value, MemoryError):
            raise _over_memory(limits) from None
        if strained:
            raise _failed_large(limits) from None
        raise value

    def _ready(self, limits: Limits) -> _Reader:
        """The reader to use, taken out of the slot until it answers."""
        reader, self.reader = self.reader, None
        if reader is not None and reader.limits == limits and reader.alive():
            return reader
        if reader is not None:
            reader.stop()
        return _Reader(limits)

    def after_fork(self) -> None:
        """In a forked child (a pool worker): the parent's reader is not this process's."""
        if self.reader is not None:
            self.reader.forget()
        self.reader = None
        self.lock = threading.Lock()


_SLOT = _Slot()
if sys.platform == "linux":
    os.register_at_fork(after_in_child=_SLOT.after_fork)


def _over_memory(limits: Limits) -> PDFTooComplex:
    return PDFTooComplex(f"reading needed over {limits.memory_mb} MiB of memory (the limit)")


def _failed_large(limits: Limits) -> PDFTooComplex:
    """A read that took over a quarter of the budget and failed: most likely cut short by it."""
    used, limit = limits.memory_mb // 4, limits.memory_mb
    return PDFTooComplex(f"reading took over {used} MiB of memory and failed (the limit: {limit} MiB)")


def _why_died(status: int, usage: resource.struct_rusage, grew: int, limits: Limits) -> Exception:
    """The typed error for a reader that died on a job: a limit when SIGXCPU or its memory
    growth says so (pdfium aborts when an allocation fails), else a crash."""
    code = os.waitstatus_to_exitcode(status)
    if code == -signal.SIGXCPU:
        return PDFTooComplex(f"reading needed over {limits.cpu_seconds} s of CPU time (the limit)")
    if grew >= limits.memory_mb * MiB // 2:
        return _over_memory(limits)
    how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
    return UnreadablePDF(f"the PDF reader crashed ({how})")


def _send(fd: int, payload: bytes) -> None:
    """One frame: the payload's length, then the payload."""
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int, deadline: float | None) -> bytes | None:
    """One frame's payload; b"" when the writer died first, None when the deadline came first."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    data = bytearray()
    while len(data) < _HEADER.size or len(data) < _HEADER.size + _HEADER.unpack_from(data)[0]:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and (remaining <= 0 or not poller.poll(remaining * 1000)):
            return None
        chunk = os.read(fd, MiB)
        if not chunk:
            return b""
        data += chunk
    return bytes(data[_HEADER.size :])


def _close_all_but(*keep: int) -> None:
    """Close every descriptor but ``keep``, stdio pointed at /dev/null: the reader must hold
    none of its owner's files (a batch's lock, the pipe a wrapper reads the owner's output
    from) a moment past its owner."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in {0, 1, 2} - set(keep):
        os.dup2(devnull, fd)
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def _serve(requests: int, replies: int, limits: Limits) -> NoReturn:
    """The reader's life: jobs in, ``(done, value, strained)`` out, until the owner closes the
    pipe or a job takes the process's peak address space past a quarter of the budget."""
    code = 1
    try:
        strain = _limit_self(limits) + limits.memory_mb * MiB // 4
        while job := _receive(requests, None):
            _cap_cpu(limits.cpu_seconds)
            try:
                outcome: tuple[bool, object] = (True, pickle.loads(job)())
            except Exception as error:
                outcome = (False, error)
            strained = _peak_address_space() > strain
            _send(replies, pickle.dumps((*outcome, strained), pickle.HIGHEST_PROTOCOL))
            if strained:
                break
        code = 0
    finally:
        os._exit(code)  # no atexit handlers, no flush of buffers copied from the owner


def _limit_self(limits: Limits) -> int:
    """Cap the address space at what the process maps now (returned) plus the budget; no core
    file.  The reader lives and dies with its owner: Ctrl-C is the owner's to handle, SIGTERM
    is not the owner's handler's, and a fault (a limit reached) is not faulthandler's to report."""
    faulthandler.disable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _lower(resource.RLIMIT_CORE, 0)
    start = _statm()[0]
    _lower(resource.RLIMIT_AS, start + limits.memory_mb * MiB)
    return start


def _lower(which: int, value: int) -> None:
    """Set the soft and hard limit to ``value``, or leave a lower limit already in force."""
    value = min([value, *(limit for limit in resource.getrlimit(which) if limit != resource.RLIM_INFINITY)])
    resource.setrlimit(which, (value, value))


def _cap_cpu(seconds: int) -> None:
    """SIGXCPU (fatal) once the next job has used ``seconds`` of CPU time (within the hard limit)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + 1 + seconds
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _peak_address_space() -> int:
    """VmPeak: the largest address space this process has had, in bytes."""
    with open("/proc/self/status", "rb") as stream:
        line = next(line for line in stream if line.startswith(b"VmPeak:"))
    return int(line.split()[1]) * 1024


def _statm() -> tuple[int, int]:
    """(address space, resident set) of this process in bytes."""
    with open("/proc/self/statm", "rb") as stream:
        size, resident = stream.read().split()[:2]
    page = resource.getpagesize()
    return int(size) * page, int(resident) * page
