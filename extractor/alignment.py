"""Order-preserving alignment of two item lists by request text.

Shared by the cross-check and the eval scorer so that one missed or invented item does not
shift every later one: a missed item is unmatched on one side, not a cascade of mismatches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

_WORDS = re.compile(r"[a-z0-9]+")
MATCH_THRESHOLD = 0.5


def normalise_text(text: str | None) -> str:
    """Lower case, punctuation dropped, single spaces: the form request texts are compared in."""
    return " ".join(_WORDS.findall((text or "").lower()))


def similarity(a: str | None, b: str | None) -> float:
    """0..1 similarity of two texts after normalisation."""
    left, right = normalise_text(a), normalise_text(b)
    if not left and not right:
        return 1.0
    return SequenceMatcher(None, left, right, autojunk=False).ratio()


def align(left: Sequence[str], right: Sequence[str]) -> list[tuple[int | None, int | None]]:
    """Pairs (i, j) in order; ``(i, None)`` is only on the left, ``(None, j)`` only on the right.

    A dynamic programme maximising the summed similarity of matched pairs, where a pair only
    counts when its similarity reaches ``MATCH_THRESHOLD``.
    """
    n, m = len(left), len(right)
    scores = [[similarity(a, b) for b in right] for a in left]
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            pair = scores[i][j] + best[i + 1][j + 1] if scores[i][j] >= MATCH_THRESHOLD else -1.0
            best[i][j] = max(pair, best[i + 1][j], best[i][j + 1])
    pairs: list[tuple[int | None, int | None]] = []
    i = j = 0
    while i < n and j < m:
        if scores[i][j] >= MATCH_THRESHOLD and best[i][j] == scores[i][j] + best[i + 1][j + 1]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            pairs.append((i, None))
            i += 1
        else:
            pairs.append((None, j))
            j += 1
    pairs.extend((k, None) for k in range(i, n))
    pairs.extend((None, k) for k in range(j, m))
    return pairs
