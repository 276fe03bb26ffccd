"""The batch under review: its records, and where each record's letter is on this machine."""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from extractor.jobs.ledger import JsonLines
from extractor.schemas import Record

RECORDS_FILE = "records.jsonl"


def records_file(path: Path) -> Path:
    """A batch output folder's records.jsonl, or ``path`` itself; FileNotFoundError if neither."""
    candidate = path / RECORDS_FILE if path.is_dir() else path
    if not candidate.is_file():
        raise FileNotFoundError(f"no {RECORDS_FILE} in {path}" if path.is_dir() else f"no such file: {path}")
    return candidate


def read_batch(records_path: Path) -> list[Record]:
    """Every whole record line, in path order (a torn last line, as a crash leaves, is skipped)."""
    records = (Record.model_validate_json(line) for line in JsonLines(records_path).lines())
    return sorted(records, key=lambda record: record.document.path)


MAX_HASHED = 5000
"""The most files hashed while looking for a letter by its sha256 (each once, then remembered)."""


@dataclass
class DocumentFinder:
    """Finds a record's letter by the sha256 the record holds, wherever the batch ran.

    It looks, in order, at the recorded path (as given, then from the records' folder), under
    ``documents`` (the recorded path, its last two parts ``letters/X.pdf``, its name), then
    beside the records' folder (the folder holding it, and that folder's other folders, by the
    last two parts or the name).  A file there with another sha256 is passed over; when none
    matches, the files of the same kind in those folders are hashed to find the one that does.
    Only when no file matches is a file found by name returned, which the page shows as changed.
    """

    records_dir: Path
    documents: Path | None = None
    _digests: dict[Path, str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def find(self, recorded: str, sha256: str | None = None) -> Path | None:
        """The letter recorded at ``recorded``; with ``sha256``, the file holding those bytes."""
        named = [candidate for candidate in self.candidates(Path(recorded)) if candidate.is_file()]
        if sha256 is None:
            return named[0] if named else None
        looked = itertools.chain(named, self._same_kind(Path(recorded).suffix))
        return next((path for path in looked if self._digest(path) == sha256), named[0] if named else None)

    def candidates(self, recorded: Path) -> list[Path]:
        tail, name = Path(*recorded.parts[-2:]), Path(recorded.name)
        found = [recorded, self.records_dir / recorded]
        if self.documents is not None:
            found += [self.documents / recorded, self.documents / tail, self.documents / name]
        beside = self.records_dir.resolve().parent
        return [*found, beside / tail, beside / name, *(folder / name for folder in _folders(beside))]

    def _same_kind(self, suffix: str) -> Iterator[Path]:
        """Files named ``*suffix`` under ``documents`` (all its depth) and beside the records."""
        beside = self.records_dir.resolve().parent
        deep = self.documents.rglob(f"*{suffix}") if self.documents is not None else iter(())
        shallow = (path for root in [beside, *_folders(beside)] for path in root.glob(f"*{suffix}"))
        files = (path for path in itertools.chain(deep, shallow) if path.is_file())
        return itertools.islice(files, MAX_HASHED)

    def _digest(self, path: Path) -> str:
        with self._lock:
            known = self._digests.get(path)
        if known is None:
            try:
                with path.open("rb") as stream:
                    known = hashlib.file_digest(stream, "sha256").hexdigest()
            except OSError:
                known = ""
            with self._lock:
                self._digests[path] = known
        return known

    def relative(self, found: Path) -> str:
        """``found`` as a fixture names it: relative to the documents folder, else ``folder/name``."""
        if self.documents is not None:
            try:
                return found.resolve().relative_to(self.documents.resolve()).as_posix()
            except ValueError:
                pass
        return Path(*found.parts[-2:]).as_posix()


def _folders(parent: Path) -> list[Path]:
    """The folders in ``parent``, by name (none when it cannot be listed)."""
    try:
        return sorted(path for path in parent.iterdir() if path.is_dir())
    except OSError:
        return []
