"""The drugs a medication item names and its drug class, from the request heading.

Both passes read them through this, as they read regions through :mod:`extractor.regions`:
the rules pass from the letter's heading, the LLM pass from the request the model copied, so
the two agree on a request by construction and the model is never asked.

The brand/generic/class table is data (drugs.toml, with its source). A name is matched as whole
words first; a word the table does not know, of :data:`FUZZY_MIN_LENGTH` letters or more, is
matched to the nearest single-word name at :data:`FUZZY_CUTOFF` similarity or above
(``rapidfuzz``), for the misspellings letters carry ("Cyclobenzeprine", "Omeprazol"). A brand
gives its labelled actives; each active is listed once, in the order requested. The route wins
over the ingredients (shared/CONTRACT.md): any topical or transdermal product is a
``topical_analgesic``; otherwise a product's class is the first of its actives' classes in
:class:`~extractor.schemas.DrugClass` order, so Norco (hydrocodone, acetaminophen) is an opioid.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, NamedTuple

from rapidfuzz import fuzz, process

from extractor.schemas import Category, DrugClass

FUZZY_CUTOFF = 85.0
"""The least ``fuzz.ratio`` (0-100) at which an unknown word is read as a name in the table."""
FUZZY_MIN_LENGTH = 6
"""Shorter words are never matched fuzzily: "soma" and "some" are one letter apart."""

# A topical or transdermal product: its form, its base, or a percentage strength (an oral
# drug's strength is a weight).
_TOPICAL = re.compile(
    r"\b(?:topical|transdermal|creams?|gels?|ointments?|lotions?|patch(?:es)?|sprays?|balms?|"
    r"liniments?|roll-ons?|lipoderm|compound(?:ed)?)\b|\d\s*%",
    re.I,
)
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Product:
    """What a name in the table stands for: its actives, and whether it is only made topical."""

    actives: tuple[str, ...]
    topical: bool = False


@dataclass(frozen=True)
class Vocabulary:
    """The table: each generic's class and every name (generic or brand) as a product."""

    classes: Mapping[str, DrugClass]
    products: Mapping[str, Product]
    pattern: re.Pattern[str]
    single_words: tuple[str, ...]
    not_drugs: frozenset[str] = frozenset()


class Medication(NamedTuple):
    """An item's ``drugs`` and ``drug_class``, as the schema names them."""

    drugs: list[str]
    drug_class: DrugClass | None


NOT_MEDICATION = Medication([], None)


def parse_vocabulary(data: Mapping[str, Any]) -> Vocabulary:
    """The table from drugs.toml's parsed content; a brand naming an unlisted generic is an error."""
    classes = {name: DrugClass(value) for name, value in data["generics"].items()}
    products = {name: Product((name,)) for name in classes}
    for name, brand in data["brands"].items():
        unknown = [active for active in brand["actives"] if active not in classes]
        if unknown:
            raise ValueError(f"brand {name!r} names generics not in the table: {', '.join(unknown)}")
        products[name] = Product(tuple(brand["actives"]), brand.get("route") == "topical")
    names = sorted(products, key=len, reverse=True)
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in names) + r")\b")
    single = tuple(n for n in names if _WORD.fullmatch(n))
    return Vocabulary(classes, products, pattern, single, frozenset(data.get("not_drugs", [])))


@functools.cache
def vocabulary() -> Vocabulary:
    """The installed table (extractor/drugs.toml)."""
    return parse_vocabulary(tomllib.loads(files("extractor").joinpath("drugs.toml").read_text("utf-8")))


def _named(request: str, table: Vocabulary) -> Iterator[Product]:
    """The products the request names, in order: whole names first, then near misses of words
    no name covers."""
    text = request.casefold()
    matches = list(table.pattern.finditer(text))
    found = [(m.start(), table.products[" ".join(m.group().split())]) for m in matches]
    for word in _WORD.finditer(text):
        if (
            len(word.group()) < FUZZY_MIN_LENGTH
            or word.group() in table.not_drugs
            or any(m.start() <= word.start() < m.end() for m in matches)
        ):
            continue
        near = process.extractOne(
            word.group(), table.single_words, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
        )
        if near is not None:
            found.append((word.start(), table.products[near[0]]))
    return (product for _, product in sorted(found, key=lambda pair: pair[0]))


def medication(request: str, category: Category, table: Vocabulary | None = None) -> Medication:
    """An item's drugs and class: none for an item that is not a medication, and a null class
    for a medication that names no drug the table knows (unless its route says topical)."""
    if category is not Category.MEDICATION:
        return NOT_MEDICATION
    table = table or vocabulary()
    products = list(_named(request, table))
    drugs = list(dict.fromkeys(active for product in products for active in product.actives))
    if _TOPICAL.search(request) or any(product.topical for product in products):
        return Medication(drugs, DrugClass.TOPICAL_ANALGESIC)
    classes = {table.classes[active] for active in drugs}
    return Medication(drugs, next((c for c in DrugClass if c in classes), None))
