"""The hand labels in evals/fixtures/*.json, and where each labelled letter lives."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from extractor.schemas import Fixture

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
FIXTURES_DIR = PACKAGE_DIR / "fixtures"
DOCUMENTS_ENV = "IMR_DOCUMENTS"
SYNTHETIC_PREFIX = "synthetic/"
PUBLISHED_PREFIX = "letters/"
CHECK_SET_EVERY = 3


class DocumentsRootMissing(FileNotFoundError):
    """The folder holding letters/ and seeds/ (../shared by default) does not exist."""


@dataclass(frozen=True)
class LoadedFixture:
    """One label, the file it came from, and the resolved path of the letter it labels."""

    fixture: Fixture
    label_file: Path
    document: Path

    @property
    def id(self) -> str:
        return self.fixture.document.id


def default_documents_root() -> Path:
    """``$IMR_DOCUMENTS`` when set, else ``../shared`` beside the repository."""
    configured = os.environ.get(DOCUMENTS_ENV)
    return Path(configured) if configured else REPO_ROOT.parent / "shared"


def documents_root(option: str | os.PathLike[str] | None = None) -> Path:
    """The documents root from ``--documents``, ``$IMR_DOCUMENTS`` or the default; it must exist."""
    root = Path(option) if option is not None else default_documents_root()
    if not root.is_dir():
        raise DocumentsRootMissing(
            f"documents root {root} is missing: the letters live in ../shared beside the project "
            f"(letters/ and seeds/); point at them with --documents DIR or {DOCUMENTS_ENV}=DIR"
        )
    return root


def resolve_document(path: str, fixtures_dir: Path, root: Path) -> Path:
    """``synthetic/...`` is relative to the fixtures folder, everything else to the documents root."""
    if path.startswith(SYNTHETIC_PREFIX):
        return fixtures_dir / path
    return root / path


def load_fixture(label_file: Path, fixtures_dir: Path, root: Path) -> LoadedFixture:
    fixture = Fixture.model_validate_json(label_file.read_text(encoding="utf-8"))
    return LoadedFixture(fixture, label_file, resolve_document(fixture.document.path, fixtures_dir, root))


def load_fixtures(
    fixtures_dir: str | os.PathLike[str] | None = None,
    documents: str | os.PathLike[str] | None = None,
    only: list[str] | None = None,
) -> list[LoadedFixture]:
    """Every ``*.json`` label in ``fixtures_dir`` (sorted by id), optionally only the given ids
    (a document id or a label file's stem).

    Raises :class:`DocumentsRootMissing` when the documents root does not exist, and
    ``ValueError`` for an ``only`` id no label has or two labels with the same id.
    """
    folder = Path(fixtures_dir) if fixtures_dir is not None else FIXTURES_DIR
    root = documents_root(documents)
    loaded = [load_fixture(path, folder, root) for path in sorted(folder.glob("*.json"))]
    seen: dict[str, Path] = {}
    for item in loaded:
        if item.id in seen:
            raise ValueError(f"two labels have id {item.id}: {seen[item.id].name} and {item.label_file.name}")
        seen[item.id] = item.label_file
    if only:
        wanted = set(only)
        known = seen.keys() | {item.label_file.stem for item in loaded}
        unknown = sorted(wanted - known)
        if unknown:
            raise ValueError(f"no label with id {', '.join(unknown)} in {folder}")
        loaded = [item for item in loaded if wanted & {item.id, item.label_file.stem}]
    return sorted(loaded, key=lambda item: item.id)


def check_set(fixtures_dir: str | os.PathLike[str] | None = None) -> frozenset[str]:
    """The check set: every third published letter by case number, kept aside while rules and
    prompts are tuned on the rest.

    A score on letters one tuned on says little about the hundreds of thousands one did not see,
    so the eval reports these letters apart. The set is drawn from every label in the folder, not
    from the letters an ``--only`` run picks, so it stays the same set.
    """
    folder = Path(fixtures_dir) if fixtures_dir is not None else FIXTURES_DIR
    labels = (path.read_text(encoding="utf-8") for path in folder.glob("*.json"))
    documents = (Fixture.model_validate_json(label).document for label in labels)
    published = sorted(document.id for document in documents if document.path.startswith(PUBLISHED_PREFIX))
    return frozenset(published[::CHECK_SET_EVERY])
