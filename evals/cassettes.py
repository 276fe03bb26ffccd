"""Record and replay the LLM calls of an eval (vcrpy), with no letter text ever written down.

One cassette per fixture per model: ``evals/cassettes/<model>/<fixture-id>.yaml``; the ``llm``
and ``hybrid`` backends send the same request and share it.  What a cassette keeps:

- requests: method, URL and the ``sha256`` of the body, as the JSON stub ``{"sha256": ...}``;
  the body itself (the letter) is never stored.  Authorization, api-key, x-api-key,
  openai-organization, cookie and set-cookie headers are dropped.
- responses: status, ``content-type`` and the body (the model's answer, which replay needs).
  No 4xx or 5xx answer is recorded (an error body may echo the request, key included; replay
  serves the good answer at once).
- the API key (read from the request's auth headers, and ``OPENAI_API_KEY``) is replaced by
  :data:`REDACTED` wherever else it appears: URL, response body.
- metadata: ``model``, ``prompt_versions`` (each kind of request's prompt version, header,
  patient and item) and the instructor ``mode``, so that a miss says which prompt changed (and a
  replay in another mode says so at once).

A request is matched on method, path and body digest (:func:`digest_matcher`), so any change of
prompt, schema, model or letter misses the request it changes, and only that one: an edited
item prompt misses the item requests while the header and summary requests still replay.
Replay turns a miss into ``MissingCassette`` with the command that re-records.

The same configuration serves pytest-recording: ``tests/conftest.py`` returns
:func:`vcr_config` from its ``vcr_config`` fixture and registers :func:`digest_matcher` as
:data:`MATCHER_NAME`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import vcr
import yaml  # type: ignore[import-untyped]
from vcr.errors import CannotOverwriteExistingCassetteException

from extractor.errors import LLMError
from extractor.llm.prompting import version_label

CASSETTES_DIR = Path(__file__).resolve().parent / "cassettes"
MATCHER_NAME = "body_digest"
MATCH_ON = ("method", "path", MATCHER_NAME)
FILTER_HEADERS = ("authorization", "api-key", "x-api-key", "openai-organization", "cookie", "set-cookie")
KEY_HEADERS = frozenset({"authorization", "api-key", "x-api-key"})
REDACTED = "<redacted>"
MIN_SECRET_CHARS = 8
"""Shorter "keys" (local servers take any) are not scrubbed: replacing them could corrupt an answer."""
KEPT_RESPONSE_HEADERS = frozenset({"content-type"})
DUMMY_API_KEY = "sk-replay-from-cassette"
RERECORD_HINT = "re-record with `extractor eval --backend hybrid --record` (or `make record`)"

RecordMode = Literal["none", "new_episodes", "all"]
T = TypeVar("T")
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


class MissingCassette(LLMError):
    """Replay found no recorded answer for this request (its prompt, schema or model changed)."""

    kind = "missing_cassette"


class DamagedCassette(MissingCassette):
    """The cassette file exists but cannot be read as one (cut, hand-edited, not YAML)."""

    kind = "damaged_cassette"


# --------------------------------------------------------------------------- request/response filters


def body_digest(body: bytes | str | None) -> str:
    """The sha256 of a request body; the digest of a body already replaced by its stub."""
    if body is None:
        body = b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    stored = stub_digest(body)
    return stored if stored is not None else hashlib.sha256(body).hexdigest()


def stub_digest(body: bytes | str | None) -> str | None:
    """The digest in a ``{"sha256": ...}`` stub, or None when the body is not a stub."""
    if not body or len(body) > 200:
        return None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict) and set(data) == {"sha256"} and isinstance(data["sha256"], str):
        return data["sha256"]
    return None


class Scrubber:
    """``before_record_request`` and ``before_record_response`` sharing the keys they have seen.

    vcrpy runs the request filter before the response filter of the same interaction, so the
    key a request was sent with is known when its answer is scrubbed.
    """

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def request(self, request: Any) -> Any:
        """The body becomes ``{"sha256": <digest of the body>}``; secret headers go, their keys kept.

        vcrpy also runs this on every incoming request before matching, so it is idempotent.
        """
        raw = request.body
        if hasattr(raw, "read"):  # a file-like body
            raw = raw.read()
        elif raw is not None and not isinstance(raw, bytes | str):  # an iterator body
            raw = b"".join(raw)
        request.body = json.dumps({"sha256": body_digest(raw)})
        for name in list(request.headers):
            lowered = name.lower()
            if lowered in KEY_HEADERS:
                self.secrets.add(str(request.headers[name]).removeprefix("Bearer ").strip())
            if lowered in FILTER_HEADERS or lowered == "content-length":
                del request.headers[name]
        request.uri = self.redact(request.uri)
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any] | None:
        """Keep status, content-type and a redacted body; drop every 4xx and 5xx answer."""
        code = response.get("status", {}).get("code", 200)
        if code >= 400:
            return None
        headers = response.get("headers") or {}
        response["headers"] = {k: v for k, v in headers.items() if k.lower() in KEPT_RESPONSE_HEADERS}
        body = response.get("body") or {}
        if isinstance(body.get("string"), bytes | str):
            body["string"] = self.redact(body["string"])
        return response

    def redact(self, value: T) -> T:
        """``value`` (text or bytes) with every known key replaced by :data:`REDACTED`."""
        known = {*self.secrets, os.environ.get("OPENAI_API_KEY", "")} - {DUMMY_API_KEY}
        for secret in sorted(known, key=len, reverse=True):
            if len(secret) < MIN_SECRET_CHARS:
                continue
            if isinstance(value, bytes):
                value = value.replace(secret.encode(), REDACTED.encode())  # type: ignore[assignment]
            elif isinstance(value, str):
                value = value.replace(secret, REDACTED)  # type: ignore[assignment]
        return value


def digest_matcher(r1: Any, r2: Any) -> None:
    """vcrpy matcher: the two bodies have the same sha256 (either may already be a stub)."""
    left, right = body_digest(_body_bytes(r1)), body_digest(_body_bytes(r2))
    if left != right:
        raise AssertionError(f"body sha256 {left[:12]}… != {right[:12]}…")


def _body_bytes(request: Any) -> bytes | str | None:
    body = request.body
    if hasattr(body, "read"):
        return bytes(body.read())
    if body is not None and not isinstance(body, bytes | str):
        return b"".join(body)
    return body


def vcr_config() -> dict[str, Any]:
    """Cassette options shared by the harness and pytest-recording (the ``vcr_config`` fixture).

    No ``record_mode`` here: the harness and pytest's ``--record-mode`` choose it.
    """
    scrubber = Scrubber()
    return {
        "before_record_request": scrubber.request,
        "before_record_response": scrubber.response,
        "decode_compressed_response": True,
        "match_on": list(MATCH_ON),
        "allow_playback_repeats": True,
    }


_USE_CASSETTE_ONLY = ("allow_playback_repeats",)


def make_vcr(record_mode: RecordMode = "none", cassette_dir: Path | None = None) -> vcr.VCR:
    """A VCR with :func:`vcr_config`, the digest matcher registered, and the given record mode.

    ``allow_playback_repeats`` is an option of ``use_cassette``, not of ``VCR``: pass it there.
    """
    options = {k: v for k, v in vcr_config().items() if k not in _USE_CASSETTE_ONLY}
    recorder = vcr.VCR(
        cassette_library_dir=str(cassette_dir or CASSETTES_DIR), record_mode=record_mode, **options
    )
    recorder.register_matcher(MATCHER_NAME, digest_matcher)
    return recorder


# --------------------------------------------------------------------------- cassettes per fixture


def model_slug(model: str | None) -> str:
    """A folder name for a model (``qwen2.5-coder-1.5b-instruct``; ``org/name`` -> ``org_name``)."""
    return _SLUG.sub("_", model or "default").strip("._") or "default"


def cassette_path(fixture_id: str, model: str | None, root: Path | None = None) -> Path:
    """Where the cassette of one fixture's LLM calls with one model lives."""
    return (root or CASSETTES_DIR) / model_slug(model) / f"{_SLUG.sub('_', fixture_id)}.yaml"


Versions = Mapping[str, str]
"""Prompt versions by kind of request (``extractor.llm.prompt_versions()``)."""


def missing_message(fixture_id: str, model: str | None, versions: Versions | None, detail: str = "") -> str:
    """The one clear line a missing or stale cassette gives."""
    shown = version_label(versions or {}) or "?"
    line = f"no cassette for {fixture_id} (model {model or '?'}, prompt_version {shown})"
    if detail:
        line += f" [{detail}]"
    return f"{line}: {RERECORD_HINT}"


def find_cassette_miss(error: BaseException) -> CannotOverwriteExistingCassetteException | None:
    """vcrpy's "not in cassette" exception anywhere in an error's chain, else None.

    The openai client wraps it in a (retried) ``APIConnectionError`` and instructor in a retry
    error, so this follows ``__cause__``/``__context__``, tenacity's ``last_attempt`` and
    instructor's ``failed_attempts``.
    """
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, CannotOverwriteExistingCassetteException):
            return current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(getattr(current, "exceptions", None) or [])  # ExceptionGroup
        last = getattr(current, "last_attempt", None)  # tenacity.RetryError
        if last is not None and hasattr(last, "exception"):
            with contextlib.suppress(Exception):
                inner = last.exception()
                if isinstance(inner, BaseException):
                    todo.append(inner)
        for attempt in getattr(current, "failed_attempts", None) or []:  # instructor
            inner = getattr(attempt, "exception", None)
            if isinstance(inner, BaseException):
                todo.append(inner)
    return None


@contextlib.contextmanager
def dummy_api_key() -> Iterator[None]:
    """Replay needs no key, but the openai client refuses to start without one: lend a dummy."""
    if os.environ.get("OPENAI_API_KEY"):
        yield
        return
    os.environ["OPENAI_API_KEY"] = DUMMY_API_KEY
    try:
        yield
    finally:
        if os.environ.get("OPENAI_API_KEY") == DUMMY_API_KEY:
            del os.environ["OPENAI_API_KEY"]


_NOT_RECORDED = "a request is not in the cassette"


class Replay:
    """The open cassette of one fixture: explains failures and records metadata."""

    def __init__(
        self,
        cassette: Any,
        fixture_id: str,
        model: str | None,
        prompt_versions: Versions | None,
        mode: str | None = None,
    ) -> None:
        self.cassette = cassette
        self.fixture_id = fixture_id
        self.model = model
        self.prompt_versions = dict(prompt_versions or {})
        self.mode = mode
        self.unmatched = 0
        self._unanswered: set[str] = set()
        # Count requests replay could not serve, whatever the client makes of the failure, and
        # when recording, the requests sent whose answer was not recorded (an error answer).
        original, append = cassette.can_play_response_for, cassette.append

        def can_play(request: Any) -> bool:
            playable = bool(original(request))
            if not playable and cassette.write_protected:
                self.unmatched += 1
            elif not playable:
                self._unanswered.add(body_digest(_body_bytes(request)))
            return playable

        def recorded(request: Any, response: Any) -> None:
            digest, held = body_digest(_body_bytes(request)), len(cassette.data)
            append(request, response)
            if len(cassette.data) > held:
                self._unanswered.discard(digest)

        cassette.can_play_response_for = can_play
        cassette.append = recorded

    @property
    def unanswered(self) -> int:
        """Requests sent while recording that got no answer to record: a cassette saved now would
        lack them, so it is not saved (see :func:`use_fixture_cassette`)."""
        return len(self._unanswered)

    def recorded(self, key: str) -> str | None:
        value = _metadata(self.cassette).get(key)
        return value if isinstance(value, str) else None

    @property
    def recorded_prompt_versions(self) -> dict[str, str]:
        """Each kind's prompt version when the cassette was recorded."""
        versions = _metadata(self.cassette).get("prompt_versions")
        if not isinstance(versions, dict):
            return {}
        return {str(kind): version for kind, version in versions.items() if isinstance(version, str)}

    def stale(self) -> str | None:
        """Why no request sent now can be in the cassette, when its metadata says so (another
        instructor mode changes every request)."""
        mode = self.recorded("mode")
        if mode and self.mode and mode != self.mode:
            return f"recorded in instructor mode {mode}, replayed in {self.mode}: pass --mode {mode}"
        return None

    def changed(self) -> str | None:
        """Which kinds' prompts changed since the recording, when its metadata says so: their
        requests miss, the other kinds' still replay."""
        recorded = self.recorded_prompt_versions
        changed = [
            f"{kind} prompt_version {recorded[kind]}"
            for kind, version in self.prompt_versions.items()
            if recorded.get(kind, version) != version
        ]
        return f"recorded with {', '.join(changed)}" if changed else None

    def message(self, detail: str) -> str:
        why = self.stale() or "; ".join(part for part in (detail, self.changed()) if part)
        return missing_message(self.fixture_id, self.model, self.prompt_versions, why)

    def missed(self) -> MissingCassette | None:
        """A :class:`MissingCassette` when a request since the last look had no recorded answer,
        even one the caller survived (a hybrid extraction keeping its rules record)."""
        unmatched, self.unmatched = self.unmatched, 0
        return MissingCassette(self.message(_NOT_RECORDED)) if unmatched else None

    def explain(self, error: BaseException) -> MissingCassette | None:
        """A :class:`MissingCassette` when ``error`` comes from a request the cassette lacks."""
        missed = self.missed()
        if isinstance(error, MissingCassette):
            return error
        if missed is None and find_cassette_miss(error) is not None:
            return MissingCassette(self.message(_NOT_RECORDED))
        return missed

    def set_metadata(self, **values: Any) -> None:
        """Store values (model, prompt_versions) in the cassette when recording."""
        if self.cassette.write_protected:
            return
        _metadata(self.cassette).update(values)
        self.cassette.dirty = True


@contextlib.contextmanager
def use_fixture_cassette(
    fixture_id: str,
    *,
    model: str | None,
    prompt_versions: Versions | None = None,
    record: RecordMode = "none",
    root: Path | None = None,
    mode: str | None = None,
    drop_unused: bool = False,
) -> Iterator[Replay]:
    """Replay (``record="none"``) or record one fixture's LLM calls.

    ``prompt_versions`` are each kind's prompt version now: recording stores them, and replay names
    the kinds whose version differs from the recording's when a request misses.  Replay raises
    :class:`MissingCassette` with the re-record command when the cassette file is absent, was
    recorded in another instructor ``mode`` (when given), or lacks a request the code sends now
    (an error escaping the block; inside it, :meth:`Replay.explain` turns a caught error into
    one).  ``record="new_episodes"`` calls the endpoint only for requests not yet in the
    cassette; ``record="all"`` starts the cassette afresh.  ``drop_unused`` (when recording)
    saves only the interactions this run replayed or recorded: answers to requests that a
    changed prompt no longer sends are not kept.  Only a run that sends every request of the
    fixture may drop (one with the llm backend: hybrid skips the header the rules read).

    Recording writes a draft beside the cassette, which replaces it only when the block ends
    without an exception and every request sent got its answer recorded
    (:attr:`Replay.unanswered`): an endpoint answering 401 leaves the cassette as it was.
    """
    path = cassette_path(fixture_id, model, root)
    if record == "none":
        if not path.exists():
            raise MissingCassette(
                missing_message(fixture_id, model, prompt_versions, f"{_shown(path)} absent")
            )
        with _cassette(path, path, fixture_id, model, prompt_versions, record, mode, drop_unused) as replay:
            yield replay
        return
    draft = path.with_name(f".{path.name}.recording")
    try:
        _start_draft(draft, path if record == "new_episodes" else None)
        with _cassette(draft, path, fixture_id, model, prompt_versions, record, mode, drop_unused) as replay:
            yield replay
        if replay.unanswered == 0 and draft.exists():
            draft.replace(path)
    finally:
        draft.unlink(missing_ok=True)


def _start_draft(draft: Path, kept: Path | None) -> None:
    """A fresh draft: the cassette's copy (recording what it lacks), or nothing (starting afresh)."""
    draft.parent.mkdir(parents=True, exist_ok=True)
    draft.unlink(missing_ok=True)  # one a killed run left
    if kept is not None and kept.exists():
        shutil.copyfile(kept, draft)


@contextlib.contextmanager
def _cassette(
    path: Path,
    named: Path,
    fixture_id: str,
    model: str | None,
    prompt_versions: Versions | None,
    record: RecordMode,
    mode: str | None,
    drop_unused: bool,
) -> Iterator[Replay]:
    """The file ``path`` open as the cassette ``named`` for :func:`use_fixture_cassette`, saved
    when the block ends."""
    recorder = make_vcr("none" if record == "none" else "new_episodes", path.parent)
    with contextlib.ExitStack() as stack:
        cassette = _open(stack, recorder, path, named, drop_unused=drop_unused and record != "none")
        if record == "none" and not cassette.data:  # vcrpy reads a file it cannot decode as empty
            raise _damaged(named, "it holds no recorded answer")
        replay = Replay(cassette, fixture_id, model, prompt_versions, mode)
        if record == "none" and replay.stale():
            raise MissingCassette(replay.message(""))
        if record != "none":
            versions = dict(prompt_versions) if prompt_versions else None
            values = {"fixture": fixture_id, "model": model, "prompt_versions": versions, "mode": mode}
            replay.set_metadata(**{key: value for key, value in values.items() if value is not None})
        try:
            yield replay
        except MissingCassette:
            raise
        except Exception as error:
            missing = replay.explain(error)
            if missing is None:
                raise
            raise missing from error


def _open(
    stack: contextlib.ExitStack, recorder: vcr.VCR, path: Path, named: Path, *, drop_unused: bool
) -> Any:
    """vcrpy's cassette for ``path``, or a :class:`DamagedCassette` naming the cassette."""
    options = {"allow_playback_repeats": True, "drop_unused_requests": drop_unused}
    try:
        return stack.enter_context(recorder.use_cassette(path.name, **options))
    except (yaml.YAMLError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise _damaged(named, f"not a cassette: {type(error).__name__}") from None


def _damaged(path: Path, reason: str) -> DamagedCassette:
    return DamagedCassette(f"damaged cassette {_shown(path)} ({reason}): delete it and {RERECORD_HINT}")


def _metadata(cassette: Any) -> dict[str, Any]:
    """The cassette's metadata dict (vcrpy >= 9 saves it beside the interactions)."""
    data = getattr(cassette, "_metadata", None)
    return data if isinstance(data, dict) else {}


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)
