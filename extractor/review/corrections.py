"""Corrections: review lines appended to reviews.jsonl, and records with them applied.

Each save is one whole line written with ``O_APPEND`` and synced, by the one process that holds
the log's lock, so a crash loses at most the save in flight; the torn line it leaves is skipped
on reading and cut (kept aside) when the log is next taken for saving.  A save that fails (a
full disk) cuts the log back to where it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import stat
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from extractor.errors import NotARegularFile
from extractor.fields import ITEMS, FieldPath, PathError
from extractor.reading import open_regular
from extractor.schemas import Record
from extractor.schemas.review import Review, ReviewAction, ReviewedDocument

if sys.platform != "win32":
    import fcntl

REVIEWS_FILE = "reviews.jsonl"


class CorrectionError(ValueError):
    """A correction that names no field of the record or leaves it invalid."""


def parse_path(field: str) -> FieldPath:
    """The path of a field a correction may change: any below the determination."""
    try:
        parsed = FieldPath.parse(field)
    except PathError as error:
        raise CorrectionError(str(error)) from None
    if not parsed.steps:
        raise CorrectionError(f"only the determination's fields can be corrected, not {field!r}")
    return parsed


def _item_at(field: str | None) -> int | None:
    """The index ``determination.items[N]`` names (an item added or removed there), else None."""
    try:
        parsed = FieldPath.parse(field or "")
    except PathError:
        return None
    return parsed.item if len(parsed.steps) == 2 else None


def _parent(data: dict[str, Any], where: FieldPath) -> Any:
    try:
        return where.parent_in(data["determination"])
    except (KeyError, IndexError, TypeError):
        raise CorrectionError(f"the record has no field {where}") from None


def value_at(record: Record, field: str) -> Any:
    """The JSON value of ``field`` in ``record``."""
    where = parse_path(field)
    parent = _parent(record.model_dump(mode="json"), where)
    try:
        return parent[where.last]
    except (KeyError, IndexError, TypeError):
        raise CorrectionError(f"the record has no field {field}") from None


def _apply_one(data: dict[str, Any], review: Review) -> None:
    if review.action == "accept" or review.field is None:
        return
    where = parse_path(review.field)
    parent = _parent(data, where)
    last = where.last
    if review.action == "add_item" and isinstance(last, int) and last <= len(parent):
        parent.insert(last, review.new)
        _renumber_items(data, last, +1)
    elif review.action == "remove_item" and isinstance(last, int) and last < len(parent):
        del parent[last]
        _renumber_items(data, last, -1)
    elif review.action == "edit" and _has(parent, last):
        parent[last] = review.new
    else:
        raise CorrectionError(f"cannot {review.action} {review.field}")


def _moved(field: str, at: int, delta: int) -> str | None:
    """``field``'s path once an item is added (+1) or removed (-1) at ``at`` (None: it was in
    the removed item); a path outside the determination stays."""
    try:
        moved = FieldPath.parse(field).shifted(at, delta)
    except PathError:
        return field
    return None if moved is None else str(moved)


def _renumber_items(data: dict[str, Any], at: int, delta: int) -> None:
    """Keep evidence, confidence and checks with their items when one is added or removed at ``at``."""
    for name in ("evidence", "confidence"):
        data[name] = {new: value for key, value in data[name].items() if (new := _moved(key, at, delta))}
    checks = data["checks"]
    data["checks"] = [{**c, "field": new} for c in checks if (new := _moved(c["field"], at, delta))]


def _has(parent: Any, key: str | int) -> bool:
    if isinstance(parent, dict):
        return key in parent
    return isinstance(parent, list) and isinstance(key, int) and key < len(parent)


def in_effect(reviews: list[Review]) -> list[Review]:
    """The reviews an ``undo`` has not cancelled, in order (each undo cancels the latest left)."""
    kept: list[Review] = []
    for review in reviews:
        if review.action != "undo":
            kept.append(review)
        elif kept:
            kept.pop()
    return kept


def reviewed_values(reviews: list[Review]) -> dict[str, str]:
    """Each value a review settled, by its path in the record as reviewed: ``accept`` (marked
    right) or ``edit``, the later one winning; paths follow items added and removed."""
    settled: dict[str, str] = {}
    for review in reviews:
        at = _item_at(review.field)
        if review.field is not None and review.action in ("accept", "edit"):
            settled[review.field] = review.action
        elif at is not None:
            delta = 1 if review.action == "add_item" else -1
            settled = {new: action for path, action in settled.items() if (new := _moved(path, at, delta))}
    return settled


def _location(loc: tuple[str | int, ...]) -> str:
    """Where in the record a validation error is: a field path inside the determination."""
    if loc[:1] == ("determination",):
        return str(FieldPath(loc[1:]))
    return ".".join(map(str, loc))


def applied(record: Record, reviews: list[Review]) -> Record:
    """``record`` with ``reviews`` applied in order; a reviewed record no longer needs review."""
    if not reviews:
        return record
    data = record.model_dump(mode="json")
    for review in reviews:
        _apply_one(data, review)
    data["needs_review"] = False
    try:
        return Record.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in error.errors())
        raise CorrectionError(problems) from None


class ReviewLogError(Exception):
    """reviews.jsonl cannot be used: not a regular file, too large, a line that is not a review,
    or taken by another review server."""


class SaveFailed(Exception):
    """A review could not be written (a full disk, a file size limit): the log is as it was."""


MAX_LOG_BYTES = 64 * 1024 * 1024
"""The largest review log read: a review line is ~400 bytes, so this is ~150,000 reviews."""


def torn_of(path: Path) -> Path:
    """Where a torn last line of the log at ``path`` is kept when it is cut (see :meth:`ReviewLog.hold`)."""
    return path.with_name(f"{path.name}.torn")


def _read_log(path: Path) -> bytes:
    """The log's bytes, empty when it is missing; a FIFO, a device or an oversized file is refused
    before it is read, since reading one would block or never end."""
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return b""
    except NotARegularFile as error:
        raise ReviewLogError(f"{path} {error.message}; the review log must be one") from None
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(MAX_LOG_BYTES + 1)
    if len(data) > MAX_LOG_BYTES:
        raise ReviewLogError(f"{path} is over {MAX_LOG_BYTES} bytes: not a review log")
    return data


def _split_tail(data: bytes) -> tuple[list[bytes], bytes]:
    """The log's whole lines and what follows the last newline: empty, a review whose newline
    is missing, or a line torn by a crash or a full disk mid-save."""
    *lines, tail = data.split(b"\n")
    return lines, tail


def _parse(path: Path, lines: list[bytes]) -> dict[str, list[Review]]:
    by_sha: dict[str, list[Review]] = defaultdict(list)
    for number, line in enumerate(lines, start=1):
        try:
            review = Review.model_validate_json(line)
        except ValueError:  # pydantic's ValidationError is one, as is a line that is not UTF-8
            raise ReviewLogError(
                f"{path}: line {number} is not a review; repair or remove that line, then retry"
            ) from None
        by_sha[review.document.sha256].append(review)
    return by_sha


def _is_review(line: bytes) -> bool:
    try:
        Review.model_validate_json(line)
    except ValueError:
        return False
    return True


def _lock_beside(path: Path) -> int:
    """An exclusive lock on the log's lock file, held while the descriptor is open: one saving
    process per log, so no save is checked against a copy another has made stale."""
    real = Path(os.path.realpath(path))  # the same lock for every spelling of the log
    fd = os.open(real.with_name(f".{real.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    if sys.platform != "win32":
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ReviewLogError(
                f"another review server is saving to {path}; review there, or stop it"
            ) from None
    return fd


def _open_appending(path: Path) -> int:
    """``path`` open for appending, created if need be: a regular file only (opened
    non-blocking, so a FIFO cannot hold the open)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ReviewLogError(f"{path} is not a regular file; the review log must be one")
    return fd


def _write_all(fd: int, data: bytes) -> None:
    while data:  # a regular file takes it in one write; loop for the rare short write
        data = data[os.write(fd, data) :]


def _reason(error: Exception) -> str:
    return (error.strerror if isinstance(error, OSError) else None) or str(error) or type(error).__name__


class ReviewLog:
    """reviews.jsonl beside a batch's records: every review line, by the document's sha256.

    Reading takes no lock: a save is one write of a whole line, so a reader sees whole lines and
    at most a line being written, which has no newline yet and is skipped.  Saving takes the log
    for this process first (:meth:`hold`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._held: int | None = None
        self._fd: int | None = None
        self._by_sha = self._load()

    def _load(self) -> dict[str, list[Review]]:
        lines, tail = _split_tail(_read_log(self.path))
        return _parse(self.path, [*lines, tail] if _is_review(tail) else lines)

    def hold(self) -> str | None:
        """Take the log for saving until :meth:`close`, and read it again under that lock.

        A second review server on the log is refused (:class:`ReviewLogError`): it would check
        saves against its own stale copy.  A torn last line (a crash or a full disk mid-save,
        so a save that was never confirmed) is cut and kept in reviews.jsonl.torn, so the next
        save starts a line of its own; returns a note saying so, or None.
        """
        with self._lock:
            return self._hold()

    def _hold(self) -> str | None:
        if self._held is not None:
            return None
        lock = _lock_beside(self.path)
        try:
            note = self._cut_torn_tail()
            self._by_sha = self._load()
        except BaseException:
            os.close(lock)
            raise
        self._held = lock
        return note

    def _cut_torn_tail(self) -> str | None:
        data = _read_log(self.path)
        _, tail = _split_tail(data)
        if not tail:
            return None
        fd = self._appender()
        if _is_review(tail):  # whole but for its newline (an edit by hand): end it
            _write_all(fd, b"\n")
            return None
        torn = torn_of(self.path)
        kept = _open_appending(torn)
        try:
            _write_all(kept, tail + b"\n")
            os.fsync(kept)
        finally:
            os.close(kept)
        os.ftruncate(fd, len(data) - len(tail))
        os.fsync(fd)
        return f"{self.path} ended in a torn line (a save never confirmed): cut, and kept in {torn}"

    def _appender(self) -> int:
        if self._fd is None:
            self._fd = _open_appending(self.path)
        return self._fd

    def _append(self, line: bytes) -> None:
        """Write ``line`` and sync it; on a failure cut the log back to its length before, so a
        full disk leaves it as it was, with no torn line."""
        try:
            fd = self._appender()
            before = os.fstat(fd).st_size
        except (OSError, ReviewLogError) as error:
            raise SaveFailed(f"the review log cannot be written ({_reason(error)})") from None
        if before + len(line) > MAX_LOG_BYTES:
            raise SaveFailed(f"the review log is full ({MAX_LOG_BYTES} bytes)")
        try:
            _write_all(fd, line)
            os.fsync(fd)
        except OSError as error:
            with contextlib.suppress(OSError):  # if even this fails, the next hold cuts the tail
                os.ftruncate(fd, before)
            raise SaveFailed(f"the review was not saved ({_reason(error)}); the log is as it was") from None

    def reviews(self, record: Record) -> list[Review]:
        """The record's reviews in effect (see :func:`in_effect`)."""
        with self._lock:
            return in_effect(self._by_sha.get(record.document.sha256, []))

    def lines(self, record: Record) -> int:
        """How many lines the log has for the record, undos included: a count that only grows."""
        with self._lock:
            return len(self._by_sha.get(record.document.sha256, ()))

    def documents(self) -> set[str]:
        """The sha256 of every document the log has a review of."""
        with self._lock:
            return set(self._by_sha)

    def corrected(self, record: Record) -> Record:
        return applied(record, self.reviews(record))

    def save(
        self, record: Record, action: ReviewAction, who: str, field: str | None = None, new: Any = None
    ) -> Review:
        """Check that the correction leaves a valid record, then append it; returns the line written."""
        with self._lock:
            self._hold()
            earlier = in_effect(self._by_sha.get(record.document.sha256, []))
            current = applied(record, earlier) if earlier else record
            old = _old(current, earlier, action, field)
            document = ReviewedDocument(
                id=record.document.id, path=record.document.path, sha256=record.document.sha256
            )
            review = Review(
                document=document, who=who, when=dt.datetime.now(dt.UTC), action=action, field=field,
                old=old, new=new,
            )  # fmt: skip
            if action in ("add_item", "remove_item") and _item_at(field) is None:
                raise CorrectionError(f"an item is added or removed at {FieldPath.of(ITEMS)}[N]")
            applied(record, in_effect([*earlier, review]))
            self._append((review.model_dump_json() + "\n").encode("utf-8"))
            self._by_sha[record.document.sha256].append(review)
            return review

    def close(self) -> None:
        """Close the log and give it up (the lock goes with its descriptor)."""
        with self._lock:
            for fd in (self._fd, self._held):
                if fd is not None:
                    os.close(fd)
            self._fd = self._held = None


def _old(current: Record, earlier: list[Review], action: ReviewAction, field: str | None) -> Any:
    """What a review replaces: the field's value, or for an undo which review it cancels."""
    if action == "undo":
        if not earlier:
            raise CorrectionError("nothing to undo")
        return earlier[-1].model_dump(mode="json", include={"action", "field", "when"})
    if field and action != "add_item":
        return value_at(current, field)
    return None


def reviews_beside(records_path: Path) -> ReviewLog:
    return ReviewLog(records_path.parent / REVIEWS_FILE)


def write_reviewed(records: list[Record], log: ReviewLog, stream: IO[str]) -> int:
    """Every record as JSON lines with its corrections applied; returns how many were reviewed."""
    reviewed = 0
    for record in records:
        reviews = log.reviews(record)
        reviewed += bool(reviews)
        stream.write(applied(record, reviews).model_dump_json() + "\n")
    return reviewed
