"""Scale-out on a batch engine: the OpenAI Batch API file format, which vLLM's run-batch also reads.

Requests are built exactly as the live LLM pass sends them: the same plan of requests per
letter, and instructor's own preparation of the create() kwargs for the configured mode.
Answers are parsed with instructor's own response parser into the same drafts, so a batch
answer meets the same schema as a live one; only the re-ask on an invalid answer is missing
(such a letter is an ``llm_invalid_output`` error that ``--retry-errors`` can redo live).

A custom_id is ``<content sha256[:24]>-<path sha256[:12]>-<kind version>-<part>-<parts>``:
at most 64 characters of ``[A-Za-z0-9-]`` (what the strictest engines accept), recomputable
from an input so a result maps back to its path and content, and naming the prompt version of
the request's kind it was written with and how many requests the letter was sent in.
``<part>`` is the request's kind's initial and its index (``h0``, ``p1``, ``i2``): the answer's
response model, and unique within the letter.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import instructor
from instructor.processing import handle_response_model, process_response
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from extractor.errors import LLMError, LLMInvalidOutput, LLMRateLimited, LLMServerError, ResultsFileError
from extractor.jobs.inputs import Task
from extractor.layout import Layout
from extractor.llm import LLMConfig, LLMResult
from extractor.llm.prompting import MODELS, Draft, assemble, kind_version, plan, sections_read, version_label
from extractor.llm.retry import as_llm_error
from extractor.llm.templates import Kind
from extractor.schemas import Usage
from extractor.scope import ALL, Asked

URL = "/v1/chat/completions"


def letter_id(task: Task) -> str:
    """The custom_id prefix of a letter's requests: its content and its path, shortened."""
    if task.sha256 is None:
        raise ValueError(f"{task.path} has no content hash")
    return f"{task.sha256[:24]}-{hashlib.sha256(task.path.encode()).hexdigest()[:12]}"


_KINDS: dict[str, Kind] = {kind[0]: kind for kind in MODELS}


def request_bodies(
    text: str, config: LLMConfig, *, asked: Asked = ALL, layout: Layout | None = None
) -> list[tuple[Kind, dict[str, Any]]]:
    """The chat.completions bodies the LLM pass sends for the parts of ``text`` that ``asked``
    names, one per planned request."""
    bodies = []
    for request in plan(text, asked, layout):
        _, body = handle_response_model(
            request.response_model,
            mode=config.instructor_mode,
            messages=request.messages,
            model=config.model,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
        )
        bodies.append((request.kind, body))
    return bodies


def request_lines(
    task: Task, text: str, config: LLMConfig, *, asked: Asked = ALL, layout: Layout | None = None
) -> list[str]:
    """The lines of a Batch API input file for one letter."""
    bodies = request_bodies(text, config, asked=asked, layout=layout)
    prefix = letter_id(task)
    return [
        json.dumps(
            {
                "custom_id": f"{prefix}-{kind_version(kind)}-{kind[0]}{part}-{len(bodies)}",
                "method": "POST",
                "url": URL,
                "body": body,
            },
            ensure_ascii=False,
        )
        for part, (kind, body) in enumerate(bodies)
    ]


class BatchResults:
    """A Batch API output file, grouped by letter, turned into LLM results on demand."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._parts: dict[str, dict[int, tuple[Kind, str, dict[str, Any]]]] = defaultdict(dict)
        self._count: dict[str, int] = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                result = json.loads(line)
                prefix, version, part, parts = str(result["custom_id"]).rsplit("-", 3)
                self._parts[prefix][int(part[1:])] = (_KINDS[part[0]], version, result)
                self._count[prefix] = int(parts)
            except (ValueError, KeyError, TypeError):
                raise ResultsFileError(
                    f"line {number} is not a result of a request this batch wrote"
                ) from None

    @classmethod
    def read(cls, path: Path) -> BatchResults:
        with open(path, encoding="utf-8") as stream:
            return cls(stream)

    def __contains__(self, task: Task) -> bool:
        return task.sha256 is not None and letter_id(task) in self._parts

    def result(self, task: Task, config: LLMConfig, asked: Asked = ALL) -> LLMResult:
        """The LLM result of a letter from its answers to the parts ``asked`` names (as its
        requests were written); raises an LLMError as the live pass would."""
        prefix = letter_id(task)
        count = self._count[prefix]
        answers = self._parts[prefix]
        if sorted(answers) != list(range(count)):
            raise LLMError(f"the results hold {len(answers)} of the letter's {count} requests")
        usage = Usage()
        drafts: list[Draft] = []
        versions: dict[str, str] = {}
        model = config.model
        for part in range(count):
            kind, versions[kind], result = answers[part]
            body = _body(result)
            model = str(body.get("model") or model)
            usage += _usage(body)
            drafts.append(_parse(body, MODELS[kind], config))
        return LLMResult(
            determination=assemble(drafts, every_item=asked.items is None),
            read=sections_read(drafts),
            model=model,
            prompt_version=version_label(versions),
            attempts=count,
            usage=usage,
            seconds=0.0,
            positions=None if asked.items is None else tuple(sorted(asked.items)),
            requests=count,
        )


def _usage(body: dict[str, Any]) -> Usage:
    usage = body.get("usage") or {}
    return Usage(
        prompt_tokens=usage.get("prompt_tokens") or 0, completion_tokens=usage.get("completion_tokens") or 0
    )


def _body(result: dict[str, Any]) -> dict[str, Any]:
    """The chat.completion of one result line, or the typed error its failure maps to."""
    error = result.get("error")
    if error:
        code = error.get("code") if isinstance(error, dict) else None
        raise LLMError(f"the batch engine failed the request ({code or 'no code given'})")
    response = result.get("response") or {}
    status = response.get("status_code")
    if status == 429:
        raise LLMRateLimited("rate limited (HTTP 429) in the batch")
    if isinstance(status, int) and status >= 500:
        raise LLMServerError(f"server error (HTTP {status}) in the batch")
    body = response.get("body")
    if status != 200 or not isinstance(body, dict):
        raise LLMError(f"the batch engine refused the request (HTTP {status})")
    return body


@functools.cache
def _prepared(response_model: type[BaseModel], mode: instructor.Mode) -> Any:
    """The response model as instructor wraps it for ``mode`` (what its parser expects)."""
    prepared, _ = handle_response_model(response_model, mode=mode, messages=[])
    return prepared


def _parse(body: dict[str, Any], response_model: type[Draft], config: LLMConfig) -> Draft:
    try:
        parsed = process_response(
            ChatCompletion.model_validate(body),
            response_model=_prepared(response_model, config.instructor_mode),
            stream=False,
            mode=config.instructor_mode,
            strict=False,
        )
    except Exception as error:
        mapped = as_llm_error(error, config)  # the live pass's typed error; else a bug, raised
        if mapped is None:
            raise
        raise mapped from None
    if not isinstance(parsed, response_model):
        raise LLMInvalidOutput(f"the answer is not a {response_model.__name__}")
    return parsed
