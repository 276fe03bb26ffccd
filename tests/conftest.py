"""Shared test configuration.

Cassettes: tests that call an LLM endpoint are marked ``@pytest.mark.vcr`` and replay with
``--record-mode=none`` (pyproject's addopts), using the eval harness's cassette settings: no
auth headers or cookies stored, request bodies stored as a sha256 digest, matched on method,
path and that digest (see evals/cassettes.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from evals import cassettes


@pytest.fixture
def vcr_config() -> dict[str, Any]:
    return cassettes.vcr_config()


def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    vcr.register_matcher(cassettes.MATCHER_NAME, cassettes.digest_matcher)
