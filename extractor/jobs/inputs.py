"""What a batch reads: INPUT arguments expanded to files, each keyed by its real path and content.

A list of paths is named with an ``@`` prefix (``@letters.txt``) rather than guessed from its
suffix, because a letter can be a ``.txt`` file too.

A file is one input however it is spelled (``in/a.pdf``, ``$PWD/in/a.pdf``, a symlink): it is
identified by its resolved path, while records keep the path the user gave.  File names are
bytes; one that is not UTF-8 reaches Python with lone surrogates, which no JSON writer takes, so
records name it with ``\\xNN`` escapes (:func:`printable`) and only opening it uses the raw name.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from extractor.errors import InputNotFound, NotARegularFile
from extractor.reading import open_regular

LETTER_SUFFIXES = frozenset({".pdf", ".txt"})
LIST_PREFIX = "@"


@dataclass(frozen=True)
class Task:
    """One file of the batch; ``sha256`` is None when the file could not be read to hash it."""

    path: str
    """As given, made printable: what records and errors name it."""
    sha256: str | None
    file: str
    """As the operating system spells it: what is opened."""
    real: str
    """Its :func:`identity`: the same file under another spelling is the same input."""


def _letters_under(folder: Path) -> Iterator[str]:
    found = (p for p in folder.rglob("*") if p.suffix.lower() in LETTER_SUFFIXES and p.is_file())
    return (str(p) for p in sorted(found))


def _listed(list_file: Path) -> Iterator[str]:
    """The entries of a list file: one path per line; blank lines and ``#`` comments skipped."""
    for line in list_file.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            yield entry


def expand(arguments: Sequence[str]) -> list[str]:
    """INPUT arguments to the ordered, de-duplicated paths of the batch.

    A file is itself; a folder is every ``*.pdf`` and ``*.txt`` below it, recursively, sorted;
    ``@LIST`` is a text file naming one file or folder per line (relative to the current
    directory, as ``find`` writes them).  A named argument that does not exist stops the batch
    (a typo); a listed path that does not exist is kept, so the batch records it as an error.
    """
    found: list[str] = []
    for argument in arguments:
        if argument.startswith(LIST_PREFIX):
            list_file = Path(argument[len(LIST_PREFIX) :])
            if not list_file.is_file():
                raise InputNotFound(f"no such list file: {list_file}")
            for entry in _listed(list_file):
                found.extend(_expand_one(entry, strict=False))
        else:
            found.extend(_expand_one(argument, strict=True))
    return list(dict.fromkeys(os.path.normpath(path) for path in found))


def _expand_one(argument: str, *, strict: bool) -> list[str]:
    path = Path(argument)
    if path.is_dir():
        return list(_letters_under(path))
    if strict and not path.exists():
        raise InputNotFound(f"no such file or folder: {argument}")
    return [argument]


def printable(path: str) -> str:
    """``path`` as valid Unicode: bytes of a name that are not UTF-8 become ``\\xNN``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def identity(path: str) -> str:
    """What makes two spellings of a path one input: the resolved path (symlinks, ``..``, the
    current directory), printable so that a recorded path resolves to the same string."""
    return printable(os.path.realpath(path))


def distinct_files(paths: Iterable[str]) -> list[str]:
    """Each file once, spelled as first given: ``in`` and ``$PWD/in`` name the same letters."""
    first: dict[str, str] = {}
    for path in paths:
        first.setdefault(identity(path), path)
    return list(first.values())


def file_sha256(path: str) -> str | None:
    """SHA-256 of the file's bytes (streamed), or None when it cannot be read or is not a
    regular file (a FIFO would block the batch, /dev/zero never end): reading it then reports why."""
    try:
        with os.fdopen(open_regular(path), "rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except (OSError, NotARegularFile):
        return None


def hashed(paths: Iterable[str], threads: int = 8) -> list[Task]:
    """Each path as a task with its content hash; threads, because hashing waits on the disk."""
    paths = list(paths)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        digests = pool.map(file_sha256, paths)
        return [
            Task(printable(path), digest, path, identity(path))
            for path, digest in zip(paths, digests, strict=True)
        ]
