"""How sure a record is of each value: the doubts met while reading, as calibrated probabilities.

A pass that reads a value also knows what made it unsure: a list split at a comma it could not
place, a category decided by a near tie, a mechanism read from a clause rather than a stated
one. Each such :class:`Doubt` names the value's path, its signal and a reason in words a
reviewer can act on.

The probability that a value is right comes from the letters the project is tuned on
(``extractor eval --calibrate`` writes ``calibration.json``): for a value with no doubt, the rate
of right values of its field; for a doubted value, the rate of right values among those its
signal fired on, the lowest when several fired. Each rate is the mean of a Beta posterior, so a
signal seen a few times stays doubtful (a known failure mode starts at even odds) and a field
seen often takes its own rate. A value below :data:`THRESHOLD` is flagged with its
reasons; ``needs_review`` follows from the flags.

In hybrid the cross-check is more evidence: an agreeing LLM reading lifts a value to its field's
rate of agreed values, a disagreeing one lowers it to the rate at which the rules value was
right against such disagreements. A disagreement stays a check in sight either way; it flags
the record only when the value's confidence falls below the threshold.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from extractor.fields import field_name
from extractor.schemas import Check, CheckStatus

CONTESTED: frozenset[CheckStatus] = frozenset({"disagree", "llm_only"})
"""Cross-check statuses where the LLM pass read a value other than the rules pass's."""

THRESHOLD = 0.9
"""A value whose confidence is below this is flagged for review (see the README for the catch
rate and review share it gives on the check set)."""

CALIBRATION_FILE = "calibration.json"

FIELD_PRIOR = (19.0, 1.0)
"""Beta(right, wrong) pseudo-counts of a field's rate before any labelled value: 0.95."""
SIGNAL_PRIOR = (1.0, 1.0)
"""A signal is a known failure mode: even odds until labelled values say otherwise."""


@dataclass(frozen=True)
class Doubt:
    """What made a value doubtful: its concrete path, the signal that fired, and why in words."""

    field: str
    signal: str
    reason: str
    confirmable: bool = True
    """Whether the LLM pass agreeing settles it: not when both passes' values go through the
    grammar the doubt is about (a diagnosis list's or a guideline's sections' split), so that
    their agreement is no independent reading."""


@dataclass(frozen=True)
class Rate:
    """Right values out of ``total`` seen, with the Beta prior they are read against."""

    right: int = 0
    total: int = 0
    prior: tuple[float, float] = FIELD_PRIOR

    @property
    def probability(self) -> float:
        right, wrong = self.prior
        return (self.right + right) / (self.total + right + wrong)

    def as_dict(self) -> dict[str, int]:
        return {"right": self.right, "total": self.total}


@dataclass(frozen=True)
class Calibration:
    """The fitted rates: per field name (``items[].category``), per signal, and per field for
    values an independent reading agreed on."""

    fields: Mapping[str, Rate] = field(default_factory=dict)
    signals: Mapping[str, Rate] = field(default_factory=dict)
    agreed: Mapping[str, Rate] = field(default_factory=dict)
    disagreed: Mapping[str, Rate] = field(default_factory=dict)
    """Per field, the rate of right rules values among those the LLM pass disagreed with."""
    llm_fields: Mapping[str, Rate] = field(default_factory=dict)
    """Per field, the rate of the LLM pass's values (the llm backend, which no rule doubts)."""
    fitted_on: int = 0
    """How many labelled letters the rates were counted on."""

    def field_rate(self, name: str, llm: bool = False) -> float:
        return (self.llm_fields if llm else self.fields).get(name, Rate()).probability

    def signal_rate(self, signal: str) -> float:
        return self.signals.get(signal, Rate(prior=SIGNAL_PRIOR)).probability

    def agreed_rate(self, name: str) -> float:
        return self.agreed.get(name, Rate()).probability

    def disagreed_rate(self, name: str) -> float:
        return self.disagreed.get(name, Rate(prior=SIGNAL_PRIOR)).probability

    def as_dict(self) -> dict[str, Any]:
        def rates(table: Mapping[str, Rate]) -> dict[str, dict[str, int]]:
            return {name: table[name].as_dict() for name in sorted(table)}

        return {
            "threshold": THRESHOLD,
            "fitted_on": self.fitted_on,
            "fields": rates(self.fields),
            "signals": rates(self.signals),
            "agreed": rates(self.agreed),
            "disagreed": rates(self.disagreed),
            "llm_fields": rates(self.llm_fields),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        def rates(key: str, prior: tuple[float, float]) -> dict[str, Rate]:
            table: Mapping[str, Mapping[str, int]] = data.get(key, {})
            return {name: Rate(c["right"], c["total"], prior) for name, c in table.items()}

        return cls(
            fields=rates("fields", FIELD_PRIOR),
            signals=rates("signals", SIGNAL_PRIOR),
            agreed=rates("agreed", FIELD_PRIOR),
            disagreed=rates("disagreed", SIGNAL_PRIOR),
            llm_fields=rates("llm_fields", FIELD_PRIOR),
            fitted_on=int(data.get("fitted_on", 0)),
        )


_CALIBRATION: Calibration | None = None


def calibration() -> Calibration:
    """The calibration shipped with the package (read once)."""
    global _CALIBRATION
    if _CALIBRATION is None:
        text = files("extractor").joinpath(CALIBRATION_FILE).read_text(encoding="utf-8")
        _CALIBRATION = Calibration.from_dict(json.loads(text))
    return _CALIBRATION


def reset() -> None:
    """Read the calibration file again on next use (after it was refitted)."""
    global _CALIBRATION
    _CALIBRATION = None


def by_field(doubts: Iterable[Doubt]) -> dict[str, list[Doubt]]:
    """The doubts of each value, in the order they were met."""
    grouped: dict[str, list[Doubt]] = {}
    for doubt in doubts:
        grouped.setdefault(doubt.field, []).append(doubt)
    return grouped


def confidence(
    paths: Iterable[str],
    doubts: Iterable[Doubt],
    checks: Iterable[Check] = (),
    table: Calibration | None = None,
    llm: bool = False,
) -> dict[str, float]:
    """Each value's probability of being right, by concrete path.

    ``checks`` are the cross-check's comparisons (hybrid): a value an independent reading agreed
    on takes at least the rate of agreed values of its field, unless a doubt it cannot settle
    stands (:attr:`Doubt.confirmable`). ``llm``: the values are the LLM
    pass's alone (the llm backend), at its fields' rates.
    """
    table = table or calibration()
    doubted = by_field(doubts)
    status = {check.field: check.status for check in checks}
    scores: dict[str, float] = {}
    for where in paths:
        name = field_name(where)
        score = min((table.signal_rate(d.signal) for d in doubted.get(where, [])), default=None)
        if score is None:
            score = table.field_rate(name, llm)
        if status.get(where) == "agree" and all(d.confirmable for d in doubted.get(where, [])):
            score = max(score, table.agreed_rate(name))
        elif status.get(where) in CONTESTED:
            score = min(score, table.disagreed_rate(name))
        scores[where] = round(score, 4)
    return scores


def flag_doubts(
    checks: Sequence[Check], doubts: Iterable[Doubt], scores: Mapping[str, float], status: CheckStatus
) -> list[Check]:
    """``checks`` with every doubted value below :data:`THRESHOLD` flagged, its reasons first in
    the note: on the value's own check where it has one (the cross-check's), else on a new one."""
    flagged = list(checks)
    own = {check.field: index for index, check in enumerate(flagged)}
    for where, found in by_field(doubts).items():
        score = scores.get(where)
        if score is None or score >= THRESHOLD:
            continue
        reasons = "; ".join(dict.fromkeys(doubt.reason for doubt in found))
        note = f"doubtful ({score:.2f}): {reasons}"
        if where in own:
            check = flagged[own[where]]
            update = {"review": True, "note": "; ".join(filter(None, [note, check.note]))}
            flagged[own[where]] = check.model_copy(update=update)
        else:
            flagged.append(Check(field=where, status=status, review=True, note=note))
    return flagged


def settle(checks: Sequence[Check], scores: Mapping[str, float], unread: Iterable[str] = ()) -> list[Check]:
    """``checks`` with each disagreement (or value only the LLM reported where the rules read
    none) whose value keeps a confidence at or above :data:`THRESHOLD` left in sight but not
    flagged: on the letters the calibration counted, the rules value was right that often
    against such a contest, so it is no reason to review. A field the rules pass could not read
    (``unread``) stays flagged whatever the LLM filled it with."""
    kept = set(unread)
    settled = []
    for check in checks:
        score = scores.get(check.field)
        contested = check.status in CONTESTED and check.review and check.field not in kept
        if contested and score is not None and score >= THRESHOLD:
            note = f"not flagged: the rules value stands at {score:.2f} against this disagreement"
            check = check.model_copy(
                update={"review": False, "note": "; ".join(filter(None, [check.note, note]))}
            )
        settled.append(check)
    return settled
