"""The grammar of one guideline citation, shared by both passes.

"MTUS ..., Section(s): ... Page(s): 98-99", "ODG, Knee and Leg, MRI": one entry per cited
guideline. The MTUS is a closed set of documents whose titles end in an edition year ("Knee
Complaints 2004"), which is what separates two titles in one sentence ("..., Section(s):
Special Studies, and Forearm, Wrist, and Hand Complaints 2004").

The rules pass reads the letter's sentences with it; the LLM pass re-reads what the model
wrote with it (:func:`canonical`), so a citation has one form whichever pass found it. Each
entry takes the chapter its title names (:mod:`extractor.chapters`).
"""

from __future__ import annotations

import functools
import itertools
import re
import tomllib
from collections.abc import Iterable
from importlib.resources import files

from extractor import chapters
from extractor.normalize import page_numbers, without_pages
from extractor.schemas import Guideline, GuidelineSource

BASED_ON = re.compile(r"Decision\s+based\s+on\s+", re.I)
"""What starts each cited guideline's sentence in a guideline paragraph."""
_NON_MTUS = re.compile(r"^Non-?\s?MTUS\s+(?:Citations?:?\s+)?", re.I)
_MTUS = re.compile(r"^(?:CA\s+|California\s+)?MTUS\b[\s:,-]*", re.I)
_YEAR = r"\b(?:19|20)\d{2}\b"
_TITLE_WITH_YEAR = re.compile(rf"(.+?{_YEAR}(?:\s+Guidelines)?)", re.S)
_NEXT_TITLE = re.compile(rf",?\s+and\s+(?=[A-Z][A-Za-z ,&/'()-]*?{_YEAR})")
_SECTIONS = re.compile(r"^[\s,]*Sections?(?:\(s\))?:\s*", re.I)
_SECTION_MARK = re.compile(r",?\s*Sections?(?:\(s\))?:", re.I)
_SOURCES = (
    (GuidelineSource.ODG, re.compile(r"Official\s+Disability\s+Guidelines|\bODG\b", re.I)),
    (GuidelineSource.ACOEM, re.compile(r"\bACOEM\b", re.I)),
)


def citation_sentences(paragraph: str) -> list[str]:
    """The "Decision based on ..." sentences of a guideline paragraph joined to one line, each
    from its marker to the next; what precedes the first (a sentence framing a Non-MTUS citation)
    is none of them."""
    cuts = [match.start() for match in BASED_ON.finditer(paragraph)] + [len(paragraph)]
    return [paragraph[start:end].strip() for start, end in itertools.pairwise(cuts)]


def split_outside_parentheses(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "," and depth <= 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [clean for part in parts if (clean := tidy(part))]


UNKNOWN_SECTION = "unknown guideline section name: split at a comma"
UNKNOWN_CHAPTER = "guideline chapter the project's vocabulary does not know"


@functools.cache
def _section_names() -> dict[str, list[str]]:
    return tomllib.loads(files("extractor").joinpath("mtus_sections.toml").read_text(encoding="utf-8"))


@functools.cache
def known_sections() -> frozenset[str]:
    """MTUS section names written with a comma (mtus_sections.toml), normalised by :func:`_key`."""
    return frozenset(_key(name) for name in _section_names()["names"])


@functools.cache
def named_sections() -> frozenset[str]:
    """Every MTUS section name the project knows, with a comma or without, normalised."""
    return known_sections() | {_key(name) for name in _section_names()["without_comma"]}


def doubtful_split(guideline: Guideline) -> bool:
    """Whether ``guideline``'s sections were split at a comma next to a name the project does not
    know: that name may hold the comma ("Opioids, dosing" before it was listed), so a person
    should look rather than trust the split."""
    sections = guideline.sections
    return len(sections) > 1 and any(_key(name) not in named_sections() for name in sections)


def unknown_chapter(guideline: Guideline) -> bool:
    """Whether ``guideline``'s title names a chapter of its source that
    extractor/guideline_chapters.toml does not know: its chapter is null, but not because the
    title names none."""
    return guideline.chapter is None and chapters.names_unknown(guideline.source, guideline.title)


def chaptered(guideline: Guideline) -> Guideline:
    """``guideline`` with the chapter its title names (:mod:`extractor.chapters`); a topic the
    title goes on to name after the chapter ("ODG Pain (Chronic) - Opioids") leaves the title
    for the front of its sections, whole (ODG's topic names hold commas)."""
    found = chapters.read(guideline.source, guideline.title)
    if found is None:
        return guideline
    sections = [found.topic, *guideline.sections] if found.topic else guideline.sections
    return guideline.model_copy(update={"title": found.title, "chapter": found.chapter, "sections": sections})


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def split_sections(text: str) -> list[str]:
    """A "Section(s):" list, one entry per section: split on commas outside parentheses, except
    inside a known section name ("Topical Analgesics, compounded")."""
    parts = split_outside_parentheses(text)
    sections: list[str] = []
    index = 0
    while index < len(parts):
        joined = next(
            (
                end
                for end in range(len(parts), index + 1, -1)
                if _key(", ".join(parts[index:end])) in known_sections()
            ),
            index + 1,
        )
        sections.append(", ".join(parts[index:joined]))
        index = joined
    return sections


def tidy(text: str) -> str:
    return " ".join(text.split()).strip(" ,;.")


def classify_source(citation: str) -> GuidelineSource:
    """ODG or ACOEM by whichever the citation names first; anything else is ``other``."""
    found = [(m.start(), source) for source, pattern in _SOURCES if (m := pattern.search(citation))]
    return min(found)[1] if found else GuidelineSource.OTHER


def mtus_entries(body: str) -> list[Guideline]:
    """Split an MTUS citation into one entry per guideline document it names."""
    entries = []
    rest = body
    while rest.strip():
        titled = _TITLE_WITH_YEAR.match(rest)
        section_at = _SECTION_MARK.search(rest)
        if titled and (section_at is None or titled.end() <= section_at.start() + 1):
            title, rest = titled.group(1), rest[titled.end() :]
        elif section_at is not None:
            title, rest = rest[: section_at.start()], rest[section_at.start() :]
        else:
            title, rest = rest, ""
        sections: list[str] = []
        after = _SECTIONS.match(rest)
        if after:
            rest = rest[after.end() :]
        following = _NEXT_TITLE.search(rest)
        own, rest = (rest[: following.start()], rest[following.end() :]) if following else (rest, "")
        if after:
            sections = split_sections(own)
        elif tidy(own):
            title += own
        entry = Guideline(source=GuidelineSource.MTUS, title=tidy(title) or None, sections=sections)
        entries.append(chaptered(entry))
    return entries


def parse_citation(body: str) -> list[Guideline]:
    """One "Decision based on ..." sentence (without those words) to its guideline entries."""
    pages = page_numbers(body)
    text = without_pages(body)
    mtus = _MTUS.match(text)
    if mtus:
        entries = mtus_entries(text[mtus.end() :])
    else:
        cited = _NON_MTUS.sub("", text.strip())
        entries = [chaptered(Guideline(source=classify_source(cited), title=tidy(cited) or None))]
    return _paged(entries, pages)


def _paged(entries: list[Guideline], pages: list[int]) -> list[Guideline]:
    """``entries`` with ``pages`` on the last: a page list belongs to the guideline it follows,
    the last one named before it."""
    if pages and entries:
        entries[-1] = entries[-1].model_copy(update={"pages": pages})
    return entries


def canonical(citations: Iterable[Guideline]) -> list[Guideline]:
    """Citations a model wrote, in the form this grammar gives the letter's: an MTUS title that
    carries its "Section(s):" list (and perhaps a second title) is read again into entries; a
    section list is divided on its commas except inside a known name; a section that only
    repeats the end of its title goes; any other citation is one title, its sections written
    after it (the grammar reads it so); then each takes the chapter its title names, a topic
    after the chapter going to its sections (:func:`chaptered`); a title loses its trailing
    punctuation."""
    return [entry for citation in citations for entry in _canonical(citation)]


def _canonical(citation: Guideline) -> list[Guideline]:
    title = tidy(citation.title) if citation.title else None
    mtus = citation.source is GuidelineSource.MTUS
    if mtus and title and _SECTION_MARK.search(title):
        return _paged(mtus_entries(title), citation.pages)
    sections = split_sections(", ".join(citation.sections)) if mtus else list(citation.sections)
    if title:
        sections = [name for name in sections if not _key(title).endswith(_key(name))]
    if not mtus:
        title, sections = tidy(", ".join(filter(None, [title, *sections]))) or None, []
    entry = Guideline(source=citation.source, title=title, sections=sections, pages=citation.pages)
    return [chaptered(entry)]
