"""The chapter a guideline citation names, read from its title (extractor/guideline_chapters.toml).

Letters name one chapter many ways: "Chronic Pain Medical Treatment 2016 Guidelines", "Chronic
Pain Treatment Guidelines", "Official Disability Guidelines (ODG) Low Back Chapter", "ODG, Low
Back & Thoracic chapter (Acute & Chronic)". A title is read as words: its source's own name and
edition words first, then the longest name or alias of a chapter its source has, then what the
title says of a topic in that chapter ("..., Preoperative lab testing"); failing a name, a
chapter of a numbered edition by its number. Words that tell no chapter apart ("Guidelines",
"Chapter", years, "(Acute & Chronic)") are passed over wherever they stand, so the vocabulary
lists only the words that do.
"""

from __future__ import annotations

import functools
import itertools
import re
import tomllib
from collections.abc import Iterator
from importlib.resources import files
from typing import NamedTuple

from extractor.schemas import GuidelineSource

_TOKEN = re.compile(
    r"(?P<aside>\(\s*(?:acute\s*(?:&|and)\s*chronic|online\s+version|updated[^)]*|ODG)\s*\))"
    r"|(?P<close>\))|(?P<word>[A-Za-z0-9]+(?:['’][A-Za-z]*)?)|(?P<amp>&)",
    re.I,
)
_PASSED_OVER = frozenset({"guidelines", "guideline", "chapter", "chapters", "section", "sections"})
"""Words that name no chapter wherever they stand (with numbers, asides and a closing parenthesis)."""
_SOURCE_NAMES = frozenset(
    {"official", "disability", "odg", "mtus", "ca", "california", "acoem", "occupational", "medicine",
     "practice", "edition", "ed", "and", "the"}
)  # fmt: skip
"""Words of a source's own name and edition, which a title may open on before its chapter."""
_OPENERS = frozenset({"official", "odg", "acoem", "mtus"})
"""Words that open a source's name: one right after a chapter starts a second citation glued to
the first, not more of the chapter's name."""
_NUMBER = re.compile(r"\d+(?:st|nd|rd|th)?")
_SEPARATOR = re.compile(r"\s*[,:;/.\u2013\u2014-]")
CHAPTERED = frozenset({GuidelineSource.MTUS, GuidelineSource.ACOEM, GuidelineSource.ODG})
"""The sources whose chapters the vocabulary lists."""


class Token(NamedTuple):
    word: str
    """Lower case, "&" as "and", no apostrophe; "" for an aside or a closing parenthesis."""
    start: int
    end: int


class Reading(NamedTuple):
    """What a title names: its chapter, the title up to the chapter's end, and the topic after it."""

    chapter: str | None
    title: str
    topic: str | None


def tokens(text: str) -> list[Token]:
    found = []
    for match in _TOKEN.finditer(text):
        word = match.group("word") or ("and" if match.group("amp") else "")
        found.append(Token(word.casefold().replace("'", "").replace("’", ""), match.start(), match.end()))
    return found


def _passed_over(word: str) -> bool:
    return not word or word in _PASSED_OVER or _NUMBER.fullmatch(word) is not None


def key(name: str) -> tuple[str, ...]:
    """The words of a name that tell a chapter apart, as titles are matched on them."""
    return tuple(token.word for token in tokens(name) if not _passed_over(token.word))


@functools.cache
def vocabulary() -> dict[GuidelineSource, dict[tuple[str, ...], str]]:
    """Per source, the key of every chapter name and alias -> the chapter's name."""
    data = tomllib.loads(files("extractor").joinpath("guideline_chapters.toml").read_text(encoding="utf-8"))
    table: dict[GuidelineSource, dict[tuple[str, ...], str]] = {source: {} for source in CHAPTERED}
    for group in data["group"]:
        for source in map(GuidelineSource, group["sources"]):
            for chapter in group["chapters"]:
                for name in (chapter["name"], *chapter["aliases"]):
                    known = table[source].setdefault(key(name), chapter["name"])
                    if known != chapter["name"]:
                        raise ValueError(f"{name!r} names both {known!r} and {chapter['name']!r} in {source}")
    return table


@functools.cache
def numbered() -> dict[GuidelineSource, list[tuple[frozenset[str], tuple[str, ...]]]]:
    """Per source, each edition whose chapters a title may name by number: the words that name
    the edition, and its chapters in their order."""
    data = tomllib.loads(files("extractor").joinpath("guideline_chapters.toml").read_text(encoding="utf-8"))
    table: dict[GuidelineSource, list[tuple[frozenset[str], tuple[str, ...]]]] = {s: [] for s in CHAPTERED}
    for group in data["group"]:
        if "numbered_in" in group:
            edition = (frozenset(word.casefold() for word in group["numbered_in"]),)
            for source in map(GuidelineSource, group["sources"]):
                table[source].append((*edition, tuple(chapter["name"] for chapter in group["chapters"])))
    return table


def _by_number(source: GuidelineSource, words: list[Token]) -> str | None:
    """The chapter a title names as "Chapter N" of an edition it names, when the edition is numbered."""
    said = {token.word for token in words}
    for edition, names in numbered()[source]:
        if said & edition:
            for first, second in itertools.pairwise(words):
                if first.word == "chapter" and second.word.isdigit() and 1 <= int(second.word) <= len(names):
                    return names[int(second.word) - 1]
    return None


def _opening(words: list[Token]) -> int:
    """Where the title's chapter may start: after its source's name and edition words."""
    index = 0
    while index < len(words) and (words[index].word in _SOURCE_NAMES or _passed_over(words[index].word)):
        index += 1
    return index


def _matches(words: list[Token], start: int, source: GuidelineSource) -> Iterator[tuple[str, int]]:
    """(chapter, index of its last word) of each name matching at ``start``, the longest first."""
    content = [index for index in range(start, len(words)) if not _passed_over(words[index].word)]
    names = vocabulary()[source]
    for length in range(len(content), 0, -1):
        chapter = names.get(tuple(words[index].word for index in content[:length]))
        if chapter is not None:
            yield chapter, content[length - 1]


def _topic(title: str, words: list[Token], last: int) -> tuple[int, str | None] | None:
    """Where the chapter's words end and the topic after them, or None when the words that follow
    go on without a break (another name, not a topic: "Low Back and neck"), unless they open a
    source's name (a second citation run on: "Knee Official Disability Guidelines ...")."""
    end = last
    while end + 1 < len(words) and _passed_over(words[end + 1].word):
        end += 1
    cut = words[end].end
    rest = title[cut:]
    if not rest.strip(" ,;.:"):
        return cut, None
    separator = _SEPARATOR.match(rest)
    glued = end + 1 < len(words) and words[end + 1].word in _OPENERS
    if separator is None and not glued and not _passed_over(words[end].word):
        return None
    topic = rest[separator.end() :] if separator else rest
    return cut, " ".join(topic.split()).strip(" ,;.:") or None


def read(source: GuidelineSource | None, title: str | None) -> Reading | None:
    """The chapter ``title`` names among its source's; None when the source has no vocabulary,
    the title names nothing past its source's own name, or what it names is not a known chapter
    (:func:`names_unknown`)."""
    if source not in CHAPTERED or not title:
        return None
    words = tokens(title)
    start = _opening(words)
    for chapter, last in _matches(words, start, source):
        found = _topic(title, words, last)
        if found is not None:
            cut, topic = found
            return Reading(chapter, title[:cut].strip(" ,;.:"), topic)
    numbered_chapter = _by_number(source, words)
    return Reading(numbered_chapter, title, None) if numbered_chapter is not None else None


def names_unknown(source: GuidelineSource | None, title: str | None) -> bool:
    """Whether ``title`` names a chapter of an MTUS, ACOEM or ODG source that the vocabulary
    does not know: it says more than its source's name, and no chapter was read from it."""
    if source not in CHAPTERED or not title:
        return False
    words = tokens(title)
    return _opening(words) < len(words) and read(source, title) is None
