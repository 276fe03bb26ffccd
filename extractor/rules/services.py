"""How an item relates to the others and to time: the surgery an associated or post-operative
item serves (``depends_on``), and the date of service a retrospective item states."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from extractor.normalize import DATE, parse_date
from extractor.schemas import Category, Item

_RETROSPECTIVE = re.compile(r"^(?:\d{1,2}[.)]\s*)?retro(?:spective|active)\b", re.I)
_DATE = re.compile(DATE, re.I)
_SERVES_SURGERY = re.compile(
    r"^associated\s+surgical\s+services?\b|\bpost[- ]?op(?:erative(?:ly)?)?\b|\bpostoperative(?:ly)?\b",
    re.I,
)


def retrospective(request: str) -> bool:
    """A heading that asks for a service already given ("Retrospective request for ...")."""
    return _RETROSPECTIVE.match(request) is not None


def service_date(request: str, reference: dt.date | None) -> dt.date | None:
    """The date a retrospective heading gives its service ("(DOS 3/1/16)", "dispensed on ...")."""
    if not retrospective(request):
        return None
    written = _DATE.search(request)
    return parse_date(written.group(0), reference) if written else None


def serves_surgery(request: str) -> bool:
    """An "Associated surgical service: ..." or post-operative item."""
    return _SERVES_SURGERY.search(request) is not None


def dependencies(items: Sequence[Item]) -> list[int | None]:
    """For each item, the index of the surgery it serves: the nearest surgery before it (else the
    first after it); None for an item that serves no surgery, or when the letter has none."""
    surgeries = [
        index
        for index, item in enumerate(items)
        if item.category is Category.SURGERY and not serves_surgery(item.request)
    ]
    served: list[int | None] = []
    for index, item in enumerate(items):
        if not surgeries or not serves_surgery(item.request):
            served.append(None)
            continue
        before = [surgery for surgery in surgeries if surgery < index]
        served.append(before[-1] if before else surgeries[0])
    return served
