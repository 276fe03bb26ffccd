"""The item classifier, tested on its own with hand-written request headings.

The check set is fixed before any tuning, by a rule that never reads a letter: every third real
letter by sorted case number, starting with the first. The classifier's vocabulary is tuned only on
the other letters and the seeds; the check set's score is the honest one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHECK_SET = (
    "CM16-0213037", "CM16-0231706", "CM16-0235991", "CM16-0242419", "CM16-0245466", "CM16-0248034",
    "CM17-0001749", "CM17-0003591", "CM17-0007142", "CM17-0008241", "CM17-0009574", "CM17-0010362",
    "CM17-0011517", "CM17-0013320", "CM17-0014288", "CM17-0017734", "CM17-0020243",
)  # fmt: skip

_FIXTURES = Path(__file__).resolve().parents[1] / "evals" / "fixtures"


def test_the_check_set_is_every_third_real_letter_by_case_number() -> None:
    real = sorted(path.stem for path in _FIXTURES.glob("CM*.json"))
    if len(real) != 50:
        pytest.skip("the real-letter fixtures are not all here")
    assert CHECK_SET == tuple(real[0::3])
