"""Whether the flags find the errors: trust figures of judged values, and the calibration fit.

A reviewer who looks only at flagged values gets the accuracy of the values left unflagged
(``accepted_accuracy``); the share of wrong values that are flagged is the ``catch_rate``; what it
costs is the share of values, and of records, flagged. A confidence is honest when values given
about 0.9 are right about 90% of the time: the reliability table bins values by confidence
against their accuracy, and the expected calibration error is its weighted gap.

:func:`fit` counts the rates extractor.confidence reads (per field, per signal) on labelled
letters: the letters one tunes on, never the check set.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from evals.scoring import Judged, value_outcomes
from extractor.confidence import CONTESTED, FIELD_PRIOR, SIGNAL_PRIOR, Calibration, Doubt, Rate, by_field
from extractor.fields import field_name
from extractor.schemas import Determination

BINS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
"""Edges of the reliability table's confidence bins (the last bin holds 1.0 itself)."""


@dataclass(frozen=True)
class TrustCount:
    """Judged values of one field (or all): how many, wrong, flagged, and wrong and flagged."""

    values: int = 0
    wrong: int = 0
    flagged: int = 0
    caught: int = 0

    @classmethod
    def of(cls, judged: Iterable[Judged]) -> TrustCount:
        values = list(judged)
        return cls(
            values=len(values),
            wrong=sum(not v.right for v in values),
            flagged=sum(v.flagged for v in values),
            caught=sum(v.flagged and not v.right for v in values),
        )

    @property
    def accepted_accuracy(self) -> float | None:
        """Right values among the unflagged ones (what a user who reviews only flags gets)."""
        unflagged = self.values - self.flagged
        return (unflagged - (self.wrong - self.caught)) / unflagged if unflagged else None

    @property
    def catch_rate(self) -> float | None:
        return self.caught / self.wrong if self.wrong else None

    @property
    def flagged_share(self) -> float | None:
        return self.flagged / self.values if self.values else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "values": self.values,
            "wrong": self.wrong,
            "flagged": self.flagged,
            "caught": self.caught,
            "accepted_accuracy": self.accepted_accuracy,
            "catch_rate": self.catch_rate,
            "flagged_share": self.flagged_share,
        }


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    values: int
    mean_confidence: float | None
    accuracy: float | None


def field_counts(judged: Iterable[Judged]) -> dict[str, TrustCount]:
    """The trust figures of each field's values."""
    return {name: TrustCount.of(values) for name, values in _by_field(judged).items()}


def _by_field(judged: Iterable[Judged]) -> dict[str, list[Judged]]:
    grouped: dict[str, list[Judged]] = {}
    for value in judged:
        grouped.setdefault(value.field, []).append(value)
    return grouped


def reliability(judged: Sequence[Judged], edges: Sequence[float] = BINS) -> list[Bin]:
    """Values binned by confidence, each bin's mean confidence against its accuracy."""
    bins: list[Bin] = []
    for index, (low, high) in enumerate(itertools.pairwise(edges)):
        last = index == len(edges) - 2
        inside = [v for v in judged if low <= v.confidence < high or (last and v.confidence == high)]
        mean = sum(v.confidence for v in inside) / len(inside) if inside else None
        accuracy = sum(v.right for v in inside) / len(inside) if inside else None
        bins.append(Bin(low, high, len(inside), mean, accuracy))
    return bins


def calibration_error(bins: Sequence[Bin]) -> float | None:
    """The expected calibration error: each bin's |accuracy - confidence|, weighted by its values."""
    total = sum(b.values for b in bins)
    if not total:
        return None
    gaps = (
        b.values * abs(b.accuracy - b.mean_confidence)
        for b in bins
        if b.accuracy is not None and b.mean_confidence is not None
    )
    return sum(gaps) / total


def trust_report(
    judged: Sequence[Judged], records: int, records_flagged: int, letters: Sequence[Sequence[Judged]] = ()
) -> dict[str, Any]:
    """Per field and overall trust figures, the records flagged, the reliability table and (given
    each letter's values) what other thresholds would do."""
    bins = reliability(judged)
    return {
        "overall": TrustCount.of(judged).as_dict(),
        "records": records,
        "records_flagged": records_flagged,
        "records_flagged_share": records_flagged / records if records else None,
        "fields": {name: count.as_dict() for name, count in sorted(field_counts(judged).items())},
        "reliability": [
            {
                "bin": f"{b.low:.2f}-{b.high:.2f}",
                "values": b.values,
                "confidence": b.mean_confidence,
                "accuracy": b.accuracy,
            }
            for b in bins
        ],
        "calibration_error": calibration_error(bins),
        "thresholds": threshold_sweep(letters) if letters else [],
    }


THRESHOLDS = (0.5, 0.75, 0.8, 0.85, 0.9, 0.95)


def threshold_sweep(
    letters: Sequence[Sequence[Judged]], thresholds: Sequence[float] = THRESHOLDS
) -> list[dict[str, Any]]:
    """What each threshold would cost and catch, from the confidences alone (not the flags a
    missing field or a cross-check raises): wrong values below it, values below it, and letters
    holding a value below it."""
    judged = [value for letter in letters for value in letter]
    rows = []
    for threshold in thresholds:
        below = [v for v in judged if v.confidence < threshold]
        rows.append(
            {
                "threshold": threshold,
                "wrong": sum(not v.right for v in judged),
                "caught": sum(not v.right for v in below),
                "values_below": len(below),
                "values": len(judged),
                "letters_below": sum(any(v.confidence < threshold for v in letter) for letter in letters),
                "letters": len(letters),
            }
        )
    return rows


def fit(letters: Iterable[tuple[Determination, Determination, Sequence[Doubt]]]) -> Calibration:
    """The rates of right values per field (undoubted values) and per signal, counted over
    ``(label, rules determination, its doubts)`` of each letter one tunes on."""
    fields: dict[str, list[bool]] = {}
    signals: dict[str, list[bool]] = {}
    count = 0
    for label, predicted, doubts in letters:
        count += 1
        doubted = by_field(doubts)
        for where, right in value_outcomes(label, predicted).items():
            found = doubted.get(where)
            if not found:
                fields.setdefault(field_name(where), []).append(right)
            for signal in dict.fromkeys(d.signal for d in found or []):
                signals.setdefault(signal, []).append(right)

    return Calibration(fields=_counted(fields), signals=_counted(signals, SIGNAL_PRIOR), fitted_on=count)


def _counted(outcomes: Mapping[str, list[bool]], prior: tuple[float, float] = FIELD_PRIOR) -> dict[str, Rate]:
    """Each name's right values out of its outcomes, read against ``prior``."""
    return {name: Rate(sum(right), len(right), prior) for name, right in sorted(outcomes.items())}


def _rates(judged: Iterable[Judged], prior: tuple[float, float] = FIELD_PRIOR) -> dict[str, Rate]:
    """Per field, the rate of right values among ``judged``."""
    return _counted({name: [v.right for v in values] for name, values in _by_field(judged).items()}, prior)


def with_llm_rates(table: Calibration, llm: Sequence[Judged], hybrid: Sequence[Judged]) -> Calibration:
    """``table`` with the llm backend's per-field rates and hybrid's rates of values the passes
    agreed and disagreed on, counted over the judged values of those runs."""
    return replace(
        table,
        llm_fields=_rates(llm),
        agreed=_rates(v for v in hybrid if v.status == "agree"),
        disagreed=_rates((v for v in hybrid if v.status in CONTESTED), SIGNAL_PRIOR),
    )
