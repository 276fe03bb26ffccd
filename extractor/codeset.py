"""The ICD-10-CM code set as :mod:`extractor.icd` reads it: a SQLite file built once, then queried.

``simple_icd_10_cm`` parses its whole tabular list when imported, and indexing every title and
inclusion term takes as long again: about 7 s, in every process that codes a diagnosis, against
~15 ms for reading a letter.  So the index is built once per code set and per version of this
module into the user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``, ``imr-extractor/``)
and opened read-only after that, which costs a process about a millisecond; each diagnosis
reads only the rows it needs.  Where the cache cannot be written the index is built in memory,
as before.  The file is replaced whole (written aside, then renamed), so processes building it
at once never see half of one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import re
import sqlite3
import tempfile
import threading
import time
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_DROPPED = frozenset({"of", "the", "a", "an", "to", "nos"})
_CHUNK = 500
"""Values bound in one ``IN (...)``: below every SQLite's limit on bound parameters."""

_SCHEMA = """
CREATE TABLE entries (at INTEGER PRIMARY KEY, code TEXT NOT NULL, text TEXT NOT NULL, key TEXT NOT NULL);
CREATE TABLE exact (key TEXT PRIMARY KEY, code TEXT NOT NULL, method TEXT NOT NULL, text TEXT NOT NULL)
    WITHOUT ROWID;
CREATE TABLE words (word TEXT PRIMARY KEY, ats BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE columns (name TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE comma (first TEXT NOT NULL, wording TEXT NOT NULL, PRIMARY KEY (first, wording)) WITHOUT ROWID;
CREATE TABLE sevens (code TEXT NOT NULL, position INTEGER NOT NULL, chr TEXT NOT NULL, meaning TEXT NOT NULL,
    PRIMARY KEY (code, position)) WITHOUT ROWID;
CREATE TABLE valid (code TEXT PRIMARY KEY) WITHOUT ROWID;
"""


def key(text: str) -> str:
    """The words a match compares: lower case, punctuation and filler words ("of", "NOS") out."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("'s", ""))
    return " ".join(word for word in words if word not in _DROPPED)


def _entries(codes: Any) -> Iterator[tuple[str, str, str]]:
    """(code, text, how) of every category and subcategory's title and inclusion terms, in the
    code set's order (the 7th-character extensions are left out: their titles only add the
    encounter)."""
    for code in codes.get_all_codes(with_dots=True):
        if codes.is_chapter_or_block(code) or codes.is_extended_subcategory(code):
            continue
        yield code, codes.get_description(code), "title"
        for term in codes.get_inclusion_term(code):
            yield code, term, "inclusion"


def _fill(db: sqlite3.Connection) -> None:
    """Index the code set ``simple_icd_10_cm`` ships into the empty database ``db``."""
    import simple_icd_10_cm as codes

    db.executescript(_SCHEMA)
    entries = [(at, code, text, key(text), how) for at, (code, text, how) in enumerate(_entries(codes))]
    db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)", (row[:4] for row in entries))
    db.executemany(
        "INSERT OR IGNORE INTO exact VALUES (?, ?, ?, ?)",  # the first entry of a key keeps it
        ((keyed, code, how, text) for _, code, text, keyed, how in entries),
    )
    postings: dict[str, array[int]] = {}
    for at, _, _, keyed, _ in entries:
        for word in set(keyed.split()):
            postings.setdefault(word, array("i")).append(at)
    db.executemany(
        "INSERT INTO words VALUES (?, ?)", ((word, ats.tobytes()) for word, ats in postings.items())
    )
    lengths = array("i", (len(" ".join(set(keyed.split()))) for _, _, _, keyed, _ in entries))
    db.execute("INSERT INTO columns VALUES ('lengths', ?)", (lengths.tobytes(),))
    db.execute("INSERT INTO columns VALUES ('keys', ?)", ("\n".join(row[3] for row in entries).encode(),))
    db.executemany(
        "INSERT OR IGNORE INTO comma VALUES (?, ?)",
        (
            (wording.split(" ", 1)[0], wording)
            for wording in _comma_wordings(text for _, _, text, _, _ in entries)
        ),
    )
    coded = dict.fromkeys(code for _, code, _, _, _ in entries)
    db.executemany(
        "INSERT INTO sevens VALUES (?, ?, ?, ?)",
        (
            (code, position, character, meaning)
            for code in coded
            for position, (character, meaning) in enumerate(
                codes.get_seven_chr_def(code, search_in_ancestors=True).items()
            )
        ),
    )
    db.executemany(
        "INSERT OR IGNORE INTO valid VALUES (?)", ((code,) for code in codes.get_all_codes(with_dots=True))
    )
    db.commit()


def _comma_wordings(texts: Iterable[str]) -> Iterator[str]:
    """Each text with a comma in it, lower case, its spacing made single."""
    return (" ".join(text.lower().split()) for text in texts if "," in text)


def _version() -> str:
    """What the index depends on: the code set's release and this module's source."""
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return f"{importlib.metadata.version('simple-icd-10-cm')}-{source}"


def cache_path() -> Path:
    """Where this version of the index is kept."""
    home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(home) / "imr-extractor" / f"icd10cm-{_version()}.sqlite"


def _build(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    try:
        with contextlib.closing(sqlite3.connect(aside)) as db:
            _fill(db)
        os.replace(aside, path)
        for stale in _stale(path):
            stale.unlink(missing_ok=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(aside)


STALE_SECONDS = 7 * 24 * 3600
"""How old another version's index must be before a build removes it: two checkouts
of different versions on one machine each keep theirs, instead of rebuilding in turn."""


def _stale(path: Path) -> Iterator[Path]:
    """Other versions' indexes beside ``path`` built over :data:`STALE_SECONDS` ago."""
    for other in path.parent.glob("icd10cm-*.sqlite"):
        with contextlib.suppress(FileNotFoundError):
            if other != path and time.time() - other.stat().st_mtime > STALE_SECONDS:
                yield other


def _open(path: Path) -> sqlite3.Connection:
    """The index at ``path``, built first when missing or damaged (cut short, overwritten: not
    an index any more); in memory when it cannot be written."""
    if path.is_file():
        with contextlib.suppress(sqlite3.DatabaseError):
            return _opened(path)
    try:
        _build(path)
    except OSError:
        db = sqlite3.connect(":memory:", check_same_thread=False)
        _fill(db)
        return db
    return _opened(path)


def _opened(path: Path) -> sqlite3.Connection:
    """The index at ``path``, read-only, after a query that fails on a file that is not one."""
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    try:
        db.execute("SELECT count(*) FROM valid").fetchone()
        db.execute("SELECT data FROM columns WHERE name = 'keys'").fetchone()
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


class _Store:
    """This process's connection, opened on first use, one query at a time; a forked child
    (a batch's worker) opens its own."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.db: sqlite3.Connection | None = None
        self.pid = 0

    def rows(self, query: str, parameters: Iterable[object] = ()) -> list[Any]:
        with self.lock:
            if self.db is None or self.pid != os.getpid():
                self.db, self.pid = _open(cache_path()), os.getpid()
            return self.db.execute(query, tuple(parameters)).fetchall()


_STORE = _Store()


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    """Distinct values, sorted, in groups small enough to bind."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def exact(keyed: str) -> tuple[str, str, str] | None:
    """(code, how, text) of the first title or inclusion term whose key is ``keyed``."""
    found = _STORE.rows("SELECT code, method, text FROM exact WHERE key = ?", (keyed,))
    return (found[0][0], found[0][1], found[0][2]) if found else None


def postings(words: Iterable[str]) -> dict[str, frozenset[int]]:
    """Each of ``words`` that some title or inclusion term's key has, and the positions of those."""
    found: dict[str, frozenset[int]] = {}
    for chunk in _chunks(words):
        marks = ", ".join("?" * len(chunk))
        for word, ats in _STORE.rows(f"SELECT word, ats FROM words WHERE word IN ({marks})", chunk):
            found[word] = frozenset(array("i", ats))
    return found


def _column(name: str) -> bytes:
    data: bytes = _STORE.rows("SELECT data FROM columns WHERE name = ?", (name,))[0][0]
    return data


@functools.cache
def key_lengths() -> array[int]:
    """The length of every title and inclusion term's words, each once and one space apart (as
    rapidfuzz's token ratios join them), by position."""
    return array("i", _column("lengths"))


@functools.cache
def keys() -> list[str]:
    """The key of every title and inclusion term, by position: read whole on the first fuzzy
    match (one read of ~3 MB is faster than a query per candidate)."""
    return _column("keys").decode().split("\n")


def entry(at: int) -> tuple[str, str]:
    """(code, text) of the title or inclusion term at ``at``."""
    code, text = _STORE.rows("SELECT code, text FROM entries WHERE at = ?", (at,))[0]
    return code, text


def comma_wordings(firsts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Every title and inclusion term with a comma in it (lower case, single spaces) that
    begins with one of ``firsts``, sorted, by its first word."""
    found: dict[str, list[str]] = {}
    for chunk in _chunks(firsts):
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT first, wording FROM comma WHERE first IN ({marks}) ORDER BY first, wording"
        for first, wording in _STORE.rows(query, chunk):
            found.setdefault(first, []).append(wording)
    return {first: tuple(wordings) for first, wordings in found.items()}


@functools.cache
def seven_character(code: str) -> dict[str, str]:
    """The 7th characters a code takes, its own or its nearest ancestor's, and what each means."""
    rows = _STORE.rows("SELECT chr, meaning FROM sevens WHERE code = ? ORDER BY position", (code,))
    return dict(rows)


def is_valid(code: str) -> bool:
    """``code`` (with or without its dot) is an entry of the code set."""
    dotted = code if len(code) < 4 or code[3] == "." else f"{code[:3]}.{code[3:]}"
    return bool(_STORE.rows("SELECT 1 FROM valid WHERE code IN (?, ?)", (code, dotted)))
