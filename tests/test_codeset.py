"""The ICD-10-CM index on disk (extractor.codeset) and the candidates a fuzzy match scores."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from rapidfuzz import fuzz

from extractor import codeset, icd

DIAGNOSES = [
    "lumbar strain",
    "right shoulder impingement syndrome",
    "strain of muscle, fascia and tendon of lower back",
    "unspecified strain of the right elbow, initial encounter",
    "tear of the medial meniscus of the left knee",
    "cervical radiculopathy",
    "major depressive disorder, single episode",
    "bilateral carpal tunnel syndrome",
    "chronic pain syndrome",
    "sprain of the ligaments of the lumbar spine",
]


@pytest.mark.parametrize("diagnosis", DIAGNOSES)
def test_every_entry_at_the_floor_is_a_candidate(diagnosis: str) -> None:
    """The length bounds drop only entries that score below the floor."""
    choices = codeset.keys()
    for variant in icd.variants(diagnosis):
        words = set(variant.split())
        sharing = set().union(*codeset.postings(words).values())
        scored = {at for at in sharing if fuzz.token_set_ratio(variant, choices[at]) >= icd.SCORE_FLOOR}
        near = icd._near(words)
        assert scored <= set(near)
        assert len(near) < len(sharing)  # and the bounds rule some out
        assert near == sorted(near)


def test_the_index_is_built_in_memory_where_the_cache_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # a file: no folder can be made in it
    monkeypatch.setattr(codeset, "_STORE", codeset._Store())
    assert codeset.exact(codeset.key("Low back pain")) == ("M54.5", "title", "Low back pain")
    assert codeset.is_valid("S39.012A")
    assert codeset.is_valid("S39012A")
    assert not codeset.is_valid("S39.012Z")
    codeset.seven_character.cache_clear()
    assert codeset.seven_character("S39.012")["A"] == "initial encounter"
    assert not list(tmp_path.rglob("*.sqlite"))


def test_a_damaged_index_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache file cut short is replaced, never an error on every letter."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(codeset, "_STORE", codeset._Store())
    damaged = codeset.cache_path()
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"SQLite format 3\x00" + bytes(80))
    assert codeset.exact(codeset.key("Low back pain")) == ("M54.5", "title", "Low back pain")
    assert damaged.stat().st_size > 1_000_000  # a whole index in its place


def test_a_build_keeps_another_version_s_recent_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two checkouts of different versions on one machine each keep their index; only one
    left unbuilt for a week goes."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(codeset, "_STORE", codeset._Store())
    folder = codeset.cache_path().parent
    folder.mkdir(parents=True)
    recent, old = folder / "icd10cm-other-recent.sqlite", folder / "icd10cm-other-old.sqlite"
    for other in (recent, old):
        other.write_bytes(b"another version's index")
    week_ago = time.time() - codeset.STALE_SECONDS - 60
    os.utime(old, (week_ago, week_ago))
    assert codeset.is_valid("S39.012A")  # builds this version's index
    assert codeset.cache_path().is_file()
    assert recent.is_file()
    assert not old.exists()
