"""The batch under review: its records, and where each record's letter is on this machine."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class DocumentFinder:
    """Finds a record's letter: its path as recorded (relative to the working folder, then to the
    records' folder), or under ``documents`` by the recorded path, its last two parts
    (``letters/X.pdf``) or its name."""

    records_dir: Path
    documents: Path | None = None

    def find(self, recorded: str) -> Path | None:
        for candidate in self.candidates(Path(recorded)):
            if candidate.is_file():
                return candidate
        return None

    def candidates(self, recorded: Path) -> list[Path]:
        if self.documents is not None:
            tail = Path(*recorded.parts[-2:])
            return [self.documents / recorded, self.documents / tail, self.documents / recorded.name]
        return [recorded, self.records_dir / recorded]

    def relative(self, found: Path) -> str:
        """``found`` as a fixture names it: relative to the documents folder, else ``folder/name``."""
        if self.documents is not None:
            try:
                return found.resolve().relative_to(self.documents.resolve()).as_posix()
            except ValueError:
                pass
        return Path(*found.parts[-2:]).as_posix()
