"""A batch's durable state: records.jsonl and errors.jsonl, append-only and safe against kill -9.

Each result is one ``os.write`` of a whole line to a file opened with ``O_APPEND``, so a crash
leaves at most one torn line, at the end, which opening the job cuts away (that letter is
simply done again).  A line is in the kernel once written, which is all kill -9 needs;
``fsync`` only guards against power loss, so it runs at most every ``sync_interval`` seconds:
per line it costs ~0.2 ms on an SSD-backed disk and ~10 ms on a spinning one, and a tail lost
to power loss is cut and redone like any torn line.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from extractor.errors import LedgerError, UnsafeTarget
from extractor.jobs.inputs import Task, identity

if sys.platform != "win32":
    import fcntl

T = TypeVar("T")
Key = tuple[str, str | None]
"""(path, sha256 of its content): what a record or error line is the result for."""


def temporary_of(path: Path) -> Path:
    """Where :func:`write_atomically` writes ``path`` before renaming it."""
    return path.with_name(f".{path.name}.tmp")


def write_atomically(path: Path, write: Callable[[IO[str]], T]) -> T:
    """Write ``path`` through a temporary file and ``os.replace``: readers see old or new, never half.

    A write that fails or is interrupted removes its temporary; only a crash leaves one behind.
    A symlink is written through (the file it names is replaced, the link stays); a target
    that is not a regular file (a device such as /dev/null, a FIFO, a folder) is refused,
    since replacing it would destroy it.
    """
    path = replaceable(path)
    temporary = temporary_of(path)
    try:
        with open(temporary, "w", encoding="utf-8", newline="") as stream:
            result = write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return result


def replaceable(path: Path) -> Path:
    """The file ``path`` names (through symlinks), when it is missing or a regular file."""
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(mode):
        raise UnsafeTarget(f"{path} is {_file_kind(mode)}, not a regular file; give a file path to write")
    return target


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")


def _sync_folder(folder: Path) -> None:
    if sys.platform != "win32":  # a rename is durable once its folder is synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class JsonLines:
    """One append-only JSON-lines file of the job."""

    def __init__(self, path: Path, sync_interval: float = 1.0) -> None:
        self.path = path
        self.sync_interval = sync_interval
        self._fd: int | None = None
        self._unsynced = False
        self._synced_at = time.monotonic()

    def lines(self) -> Iterator[str]:
        """Every complete line (a torn last line is not one); for readers of a finished job."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as stream:
            for raw in stream:
                if raw.endswith(b"\n"):
                    yield raw.decode("utf-8")

    def recover(self) -> list[Key]:
        """Cut a torn tail left by a crash, and return the key of every line, in order.

        A line is whole when it ends in a newline and parses; bad lines are allowed only at
        the end (a crash mid-write, or garbage after a power loss).  A bad line with good ones
        after it is not something a crash makes, so it stops the batch rather than be guessed at.
        """
        keys: list[Key] = []
        if not self.path.exists():
            return keys
        good_end = 0
        first_bad: int | None = None
        with open(self.path, "rb") as stream:
            offset = 0
            for number, raw in enumerate(stream, start=1):
                offset += len(raw)
                key = _key(raw) if raw.endswith(b"\n") else None
                if key is None:
                    first_bad = first_bad or number
                    continue
                if first_bad is not None:
                    raise LedgerError(
                        f"{self.path}: line {first_bad} is not a whole JSON line but later lines are; "
                        "repair or remove that line, then rerun"
                    )
                keys.append(key)
                good_end = offset
        if first_bad is not None:
            os.truncate(self.path, good_end)
        return keys

    def open(self) -> int:
        """The file held open for appending, created if need be."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    def append(self, line: str) -> None:
        """Add one line with a single write, so it is whole or (at the very end) torn, never mixed."""
        fd = self.open()
        data = (line.rstrip("\n") + "\n").encode("utf-8")
        while data:  # a regular file takes it all in one write; loop for the rare short write
            written = os.write(fd, data)
            data = data[written:]
        self._unsynced = True
        if time.monotonic() - self._synced_at >= self.sync_interval:
            self.sync()

    def sync(self) -> None:
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False
        self._synced_at = time.monotonic()

    def close(self) -> None:
        self.sync()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def drop(self, numbers: set[int]) -> None:
        """Rewrite the file without the given line numbers (0-based), atomically."""
        if not numbers:
            return
        self.close()
        kept = (line for number, line in enumerate(self.lines()) if number not in numbers)
        write_atomically(self.path, lambda stream: stream.writelines(kept))


def _key(raw: bytes) -> Key | None:
    try:
        document = json.loads(raw)["document"]
        return str(document["path"]), document.get("sha256")
    except (ValueError, TypeError, KeyError):
        return None


JOB_FILES = ("records.jsonl", "errors.jsonl", "items.csv", "summary.json")
"""What a batch writes to its folder."""


class Ledger:
    """records.jsonl and errors.jsonl of one output folder, held under a lock for one run.

    Both files exist from the start (empty when nothing went there), and temporaries a crash
    left behind are removed: with the lock held, no other run is writing them.
    """

    def __init__(self, out: Path, sync_interval: float = 1.0) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self._lock: int | None = _lock(out / ".lock")
        _OPEN.add(self)
        self.records = JsonLines(out / "records.jsonl", sync_interval)
        self.errors = JsonLines(out / "errors.jsonl", sync_interval)
        try:
            for name in JOB_FILES:
                replaceable(out / name)  # a FIFO or device there is refused, never opened or replaced
                temporary_of(out / name).unlink(missing_ok=True)
            self.records.open()
            self.errors.open()
        except (OSError, UnsafeTarget):
            self.close()
            raise

    def pending(
        self,
        tasks: Iterable[Task],
        retry_errors: bool = False,
        redo_record: Callable[[str], bool] | None = None,
    ) -> list[Task]:
        """The tasks still to do, after dropping the lines that redoing them supersedes.

        A line belongs to a task when its path is the same file (:func:`identity`: another
        spelling of it counts).  A task is done when such a line has its sha256, or, for a
        file that cannot be read, when it has any line (a record is never dropped because its
        file went away).  Lines of the same file with other content are stale and dropped;
        with ``retry_errors`` so are the task's error lines, and so are the record lines for
        which ``redo_record`` says yes (``--retry-llm``: the records whose LLM pass failed).
        Both files are rewritten (atomically) before anything is redone, so every input ends
        up exactly once in records ∪ errors.
        """
        lines: dict[str, list[tuple[JsonLines, int, str | None]]] = defaultdict(list)
        for log in (self.records, self.errors):
            for number, (path, sha) in enumerate(log.recover()):
                lines[identity(path)].append((log, number, sha))
        drop: dict[JsonLines, set[int]] = {self.records: set(), self.errors: set()}
        redone = set()
        if redo_record is not None:
            redone = {number for number, line in enumerate(self.records.lines()) if redo_record(line)}
        todo: list[Task] = []
        for task in tasks:
            current: dict[JsonLines, list[int]] = {self.records: [], self.errors: []}
            for log, number, sha in lines.get(task.real, []):
                if task.sha256 is None or sha == task.sha256:
                    current[log].append(number)
                else:  # the file has changed since that line was written
                    drop[log].add(number)
            recorded, failed = current[self.records], current[self.errors]
            if recorded and all(number in redone for number in recorded):
                drop[self.records].update(recorded)
                recorded = []
            redo = not recorded and (retry_errors or not failed)
            if recorded or redo:  # a record wins over an error; a redo replaces it
                drop[self.errors].update(failed)
            if redo:
                todo.append(task)
        for log, numbers in drop.items():
            log.drop(numbers)
        return todo

    def forget_lock(self) -> None:
        """Close this process's copy of the lock, leaving the lock to any other holder."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        _OPEN.discard(self)

    def close(self) -> None:
        self.records.close()
        self.errors.close()
        self.forget_lock()


_OPEN: weakref.WeakSet[Ledger] = weakref.WeakSet()
"""The ledgers this process holds open, whose locks a forked child must not keep."""


def _forget_locks() -> None:
    """In a forked child (a worker): close the inherited locks.  A child shares each lock with
    this process and would hold it past this process's death, so a resume would be refused."""
    for ledger in list(_OPEN):
        ledger.forget_lock()


if sys.platform != "win32":
    os.register_at_fork(after_in_child=_forget_locks)


def _lock(path: Path) -> int:
    """Hold ``path`` locked for this process's life: two runs appending to one job would duplicate."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if sys.platform != "win32":
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LedgerError(f"another batch is writing to {path.parent}") from None
    return fd
