"""The CPU-bound half of a batch, run in worker processes: reading, the rules pass, the cross-check.

Functions here take and return plain picklable values.  A letter that gives no record comes
back as a :class:`Failure` rather than an exception, so the error line is built in one place
and nothing depends on an exception surviving pickling.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from extractor import pipeline
from extractor.errors import ExtractionError, LLMError, describe
from extractor.jobs.inputs import Task
from extractor.pipeline import Letter, OnLLMError
from extractor.reading import SourceText, read_path
from extractor.schemas import Backend
from extractor.scope import ALL

if TYPE_CHECKING:
    from extractor.llm import LLMConfig, LLMResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """Why one input gave no record: a line of errors.jsonl."""

    document: dict[str, Any]
    kind: str
    message: str

    @classmethod
    def of(cls, error: Exception, document: dict[str, Any]) -> Failure:
        """The typed reason of ``error``; anything else is a bug, reported without its text
        (which may quote the letter) and logged with its traceback at debug level."""
        if not isinstance(error, ExtractionError):
            log.debug("unexpected error on %s", document.get("path"), exc_info=error)
        return cls(document, *describe(error))

    def line(self) -> str:
        error = {"type": self.kind, "message": self.message}
        return json.dumps({"document": self.document, "error": error}, ensure_ascii=False)


def document(source: SourceText) -> dict[str, Any]:
    """The document a letter read is, as an error line names it."""
    return source.document().model_dump(mode="json")


def unread(task: Task) -> dict[str, Any]:
    """All that is known of a file that could not be read."""
    return {"path": task.path, "sha256": task.sha256}


def read(task: Task, backend: Backend, config: LLMConfig | None) -> Letter | Failure:
    """Read the letter and run the rules pass (``extractor.pipeline.read``); refuse what is not
    an IMR letter."""
    started = time.time()
    try:  # opened by its own name, recorded by its printable one
        source = dataclasses.replace(read_path(task.file), path=task.path)
    except Exception as error:
        return Failure.of(error, unread(task))
    try:
        return dataclasses.replace(pipeline.read(source, backend, config), started=started)
    except Exception as error:
        return Failure.of(error, document(source))


def record(task: Task, backend: Backend, config: LLMConfig | None) -> str | Letter | Failure:
    """Read the letter; one with nothing to ask the LLM (the rules backend, or hybrid sure of
    every part) is finished here, its record a JSON line, in one trip to a worker."""
    letter = read(task, backend, config)
    if isinstance(letter, Failure) or letter.needs_llm:
        return letter
    return finish(letter)


def finish(
    letter: Letter, answer: LLMResult | LLMError | None = None, on_llm_error: OnLLMError = "raise"
) -> str | Failure:
    """``extractor.pipeline.finish`` as a JSON line, or the reason it gave none: for a hybrid
    letter whose LLM pass failed, ``keep_rules`` keeps its rules record with a check naming why,
    so the letter is not lost and ``--retry-llm`` completes it later."""
    try:
        return pipeline.finish(letter, answer, on_llm_error).model_dump_json()
    except Exception as error:
        return Failure.of(error, document(letter.source))


def batch_requests(task: Task, config: LLMConfig, backend: Backend) -> list[str] | str | Failure:
    """Read and check the letter, then write its Batch API request lines (``--prepare-batch``):
    only those of the parts the rules pass doubts, under hybrid's ``doubtful`` scope; a letter
    whose parts it is sure of all is final now, its record (a JSON line) in place of requests."""
    from extractor.jobs.openai_batch import request_lines

    letter = record(task, backend, config)
    if not isinstance(letter, Letter):
        return letter
    try:
        read_task = dataclasses.replace(task, sha256=letter.source.sha256)
        asked = letter.asked or ALL  # None only for the rules backend, which prepares nothing
        return request_lines(read_task, letter.source.text, config, asked=asked, layout=letter.layout)
    except Exception as error:
        return Failure.of(error, document(letter.source))


WORKER_NICENESS = 10
"""How far workers lower their priority when an event loop's LLM calls pace the batch, so the
loop is not kept waiting for a CPU: on 2 CPUs this took the llm backend from 0.50 to 0.65 of the
ideal rate at concurrency 32.  Not for the rules backend, where it only loses to other programs."""


PARENT_POLL_SECONDS = 1.0
"""How often a worker checks that the batch process still lives, where the kernel cannot tell it."""

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def start_worker(niceness: int, parent: int) -> None:
    """Each worker's initializer: die with the batch process ``parent``, leave signals to it, and
    take the priority it asks for.

    The batch process stops cleanly on Ctrl-C or SIGTERM and then stops its workers, so they
    ignore both (a terminal sends Ctrl-C to every process of the group).
    """
    _exit_with(parent)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)


def _exit_with(parent: int) -> None:
    """End this worker when ``parent`` dies, even by kill -9.

    An orphaned worker waits for work for ever (its siblings hold the queue's pipe open) and
    keeps the batch's stderr open.  Linux kills it when the parent dies (PR_SET_PDEATHSIG);
    a thread watching the parent id does it everywhere, within ``PARENT_POLL_SECONDS``.
    """
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before this worker could ask
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="watch-parent", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def ready() -> bool:
    """A no-op whose first submission starts the worker processes."""
    return True
