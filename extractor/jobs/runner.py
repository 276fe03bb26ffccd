"""Running a batch: worker processes for reading and rules, asyncio for the LLM, one writer.

Per letter: read + rules in the pool -> the LLM pass (async, at most ``concurrency`` calls at
once) -> cross-check in the pool -> one line appended to records.jsonl or errors.jsonl.  The
event loop only waits and writes, so LLM calls never queue behind PDF parsing, and only as
many letters are in flight as keep both the pool and the LLM busy.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from extractor.errors import LLMError, WorkerCrashed
from extractor.jobs import work
from extractor.jobs.inputs import Task, distinct_files, hashed
from extractor.jobs.ledger import Ledger, write_atomically
from extractor.jobs.progress import BatchProgress
from extractor.jobs.summary import RunCounts, write_outputs
from extractor.jobs.work import Failure
from extractor.pipeline import BACKENDS, Letter, OnLLMError, aask, llm_failed
from extractor.schemas import Backend, Record
from extractor.scope import ALL

if TYPE_CHECKING:
    import instructor

    from extractor.jobs.openai_batch import BatchResults
    from extractor.llm import LLMConfig, LLMResult

log = logging.getLogger(__name__)
T = TypeVar("T")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_WORKER_START = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
Outcome = str | Failure | None
"""A record's JSON line, an error, or nothing to write (a letter sent to the requests file)."""


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs: the ``extractor batch`` flags."""

    out: Path
    backend: Backend = "rules"
    llm_config: LLMConfig | None = None
    """Required by the llm and hybrid backends, and by prepare_batch and ingest."""
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    concurrency: int = 8
    """LLM calls in flight at once."""
    retry_errors: bool = False
    retry_llm: bool = False
    """Redo the hybrid records whose LLM pass failed (kept as flagged rules records)."""
    progress: bool = False
    sync_interval: float = 1.0
    """Seconds between fsyncs of the output files (see extractor.jobs.ledger)."""
    prepare_batch: Path | None = None
    """Write the LLM requests to this Batch API input file instead of sending them."""
    ingest: Path | None = None
    """Take the LLM's answers from this Batch API output file instead of asking."""

    def __post_init__(self) -> None:
        if self.workers < 1 or self.concurrency < 1:
            raise ValueError("workers and concurrency must be at least 1")
        asks = BACKENDS[self.backend].asks
        if not asks and (self.prepare_batch or self.ingest):
            asking = " or ".join(name for name, passes in BACKENDS.items() if passes.asks)
            raise ValueError(f"prepare_batch and ingest need the {asking} backend")
        if asks and self.llm_config is None:
            raise ValueError(f"the {self.backend} backend needs an llm_config")
        if self.prepare_batch and self.ingest:
            raise ValueError("prepare_batch and ingest are two runs, not one")

    @property
    def calls_llm(self) -> bool:
        """Whether this run sends LLM requests itself (not through Batch API files)."""
        return BACKENDS[self.backend].asks and self.prepare_batch is None and self.ingest is None


class BatchStopped(KeyboardInterrupt):
    """The batch stopped on Ctrl-C or SIGTERM, with summary.json and items.csv written: the same
    command again resumes it.  A KeyboardInterrupt, so that code which does not expect it stops."""

    def __init__(self, summary: dict[str, Any], signum: int, out: Path) -> None:
        super().__init__(summary, signum, out)
        self.summary = summary
        self.signum = signum
        self.out = out

    @property
    def exit_status(self) -> int:
        """128 + the signal's number: what a shell reports for a command the signal ended."""
        return 128 + self.signum

    def __str__(self) -> str:
        status = self.summary["status"]
        this_run = status["done"] + status["failed"]
        done = status["skipped"] + this_run
        return (
            f"stopped by {signal.Signals(self.signum).name}: {done} of {self.summary['inputs']} inputs done "
            f"({this_run} in this run); summary.json and items.csv written to {self.out}"
        )


def resume_command(argv: Sequence[str]) -> str:
    """The command line that finishes a stopped batch: the same one (``sys.argv``) again."""
    python_m = Path(argv[0]).name == "__main__.py"  # python -m extractor
    program = [sys.executable, "-m", "extractor"] if python_m else [argv[0]]
    return shlex.join([*program, *argv[1:]])


class _Interrupted(KeyboardInterrupt):
    """A first stop signal outside the event loop; run_batch catches it and writes the summary."""


class _Stop:
    """SIGINT (Ctrl-C) and SIGTERM, both taken as a request to stop cleanly.

    The first signal stops the batch where it is: letters in flight are cancelled (a resume
    redoes them), and the summary is written.  While the summary is being written, the signal
    only waits for it.  A second signal stops at once (KeyboardInterrupt).  Only the main thread
    has signal handlers, so elsewhere nothing changes; an ignored signal stays ignored.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.deferred = False
        self._cancel: Callable[[], object] | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) != signal.SIG_IGN:  # nohup, or `&` in a script
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    @contextmanager
    def cancelling(self, task: asyncio.Task[Any]) -> Iterator[None]:
        """While the block runs, a first signal cancels ``task``, in its loop, rather than raise
        in the middle of whatever the loop is doing."""
        self._cancel = functools.partial(task.get_loop().call_soon_threadsafe, task.cancel)
        try:
            yield
        finally:
            self._cancel = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        if self._cancel is not None:
            self._cancel()
        elif not self.deferred:
            raise _Interrupted


def _llm_failed_line(line: str) -> bool:
    """A line of records.jsonl that ``--retry-llm`` redoes: a hybrid record whose LLM pass failed."""
    try:
        return llm_failed(Record.model_validate_json(line))
    except ValidationError:
        return False


def run_batch(paths: Sequence[str], options: BatchOptions) -> dict[str, Any]:
    """Extract every file of ``paths`` into ``options.out``; returns the summary.

    Inputs with a line in records.jsonl or errors.jsonl are skipped (errors are redone with
    ``retry_errors``), so a killed run is finished by running it again.  A file named twice
    (another spelling, a symlink) is one input.  items.csv and summary.json are rebuilt at the
    end, also after Ctrl-C or SIGTERM, which then raise :class:`BatchStopped`.
    """
    started = time.perf_counter()
    results = _read_results(options.ingest)
    files = distinct_files(paths)
    ledger = Ledger(options.out, options.sync_interval)  # locked first: a second run stops at once
    counts = RunCounts()
    with _Stop() as stop:
        try:
            _run(files, options, ledger, counts, stop, results)
        except _Interrupted:
            pass
        finally:
            stop.deferred = True
            ledger.close()
        summary = write_outputs(
            options.out,
            inputs=len(files),
            backend=options.backend,
            counts=counts,
            seconds=time.perf_counter() - started,
        )
    if stop.signum is not None:
        raise BatchStopped(summary, stop.signum, options.out)
    return summary


def _run(
    files: list[str],
    options: BatchOptions,
    ledger: Ledger,
    counts: RunCounts,
    stop: _Stop,
    results: BatchResults | None,
) -> None:
    tasks = hashed(files)
    todo = ledger.pending(tasks, options.retry_errors, _llm_failed_line if options.retry_llm else None)
    counts.skipped = len(tasks) - len(todo)
    if results is not None:
        answered = [task for task in todo if task in results]
        counts.pending = len(todo) - len(answered)
        todo = answered
    if options.prepare_batch is not None:
        write_atomically(
            options.prepare_batch,
            lambda stream: _execute(todo, options, ledger, counts, stop, requests=stream),
        )
    else:
        _execute(todo, options, ledger, counts, stop, results=results)


def _read_results(path: Path | None) -> BatchResults | None:
    if path is None:
        return None
    from extractor.jobs.openai_batch import BatchResults

    return BatchResults.read(path)


def _execute(
    todo: list[Task],
    options: BatchOptions,
    ledger: Ledger,
    counts: RunCounts,
    stop: _Stop,
    *,
    results: BatchResults | None = None,
    requests: IO[str] | None = None,
) -> None:
    if not todo:
        return
    # Workers yield the CPU to the event loop only when its LLM calls pace the batch.
    niceness = work.WORKER_NICENESS if options.calls_llm else 0
    with _Pool(options.workers, niceness) as pool:  # before asyncio and rich start threads: see _Pool
        job = _Job(options, ledger, pool, counts, results=results, requests=requests)
        asyncio.run(job.run(todo, stop))
    if stop.signum is not None:
        raise _Interrupted  # the run is cut short: a requests file is not written half


def _kill_survivors(executor: ProcessPoolExecutor) -> None:
    """End the workers of a broken pool that still live.

    The pool's manager ends them with SIGTERM and then waits for each, but workers ignore
    SIGTERM (see ``work.start_worker``): an idle survivor kept the batch from exiting.
    """
    for process in list((executor._processes or {}).values()):
        process.kill()


class _Pool:
    """The worker processes; replaced when one dies (a crash in the PDF library, the OOM killer).

    Workers are started at once, while this process has no other thread, because forking a
    process with threads can deadlock the child.  They are this process's own children (on
    Linux never a fork server's, Python 3.14's default), because they watch it to die with it.
    """

    def __init__(self, workers: int, niceness: int = 0) -> None:
        self._workers = workers
        self._niceness = niceness
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            self._workers,
            mp_context=_WORKER_START,
            initializer=work.start_worker,
            initargs=(self._niceness, os.getpid()),
        )
        executor.submit(work.ready).result()
        return executor

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a worker; a letter in flight when a worker dies gets one more try."""
        loop = asyncio.get_running_loop()
        for _ in range(2):
            executor = self._executor
            try:
                return await loop.run_in_executor(executor, function, *args)
            except BrokenProcessPool:
                if executor is self._executor:
                    log.warning("a worker process died; starting new ones")
                    _kill_survivors(executor)
                    executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = self._start()
        raise WorkerCrashed("a worker process died twice while this letter was in flight")

    def __enter__(self) -> _Pool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class _Job:
    """One run over the letters still to do; the only writer of the job's files."""

    def __init__(
        self,
        options: BatchOptions,
        ledger: Ledger,
        pool: _Pool,
        counts: RunCounts,
        *,
        results: BatchResults | None,
        requests: IO[str] | None,
    ) -> None:
        self.options = options
        self.ledger = ledger
        self.pool = pool
        self.counts = counts
        self.results = results
        self.requests = requests
        self.client: instructor.AsyncInstructor | None = None
        self.llm_slots = asyncio.Semaphore(options.concurrency)

    @property
    def config(self) -> LLMConfig:
        assert self.options.llm_config is not None  # BatchOptions checks it
        return self.options.llm_config

    def _window(self) -> int:
        """Letters in flight: enough to keep every worker and every LLM slot busy."""
        busy_llm = self.options.concurrency if self.options.calls_llm else 0
        return busy_llm + 4 * self.options.workers

    async def run(self, todo: list[Task], stop: _Stop) -> None:
        """Every letter of ``todo``, or those done when ``stop`` cancels the rest."""
        if self.options.calls_llm:
            from extractor.llm import make_async_client

            self.client = make_async_client(self.config)
        slots = asyncio.Semaphore(self._window())
        total = self.counts.skipped + len(todo)
        this = asyncio.current_task()
        assert this is not None  # run by asyncio.run
        try:
            with (
                stop.cancelling(this),
                BatchProgress(total, self.counts.skipped, enabled=self.options.progress) as progress,
            ):
                async with asyncio.TaskGroup() as group:
                    for task in todo:
                        await slots.acquire()
                        running = group.create_task(self._one(task, progress))
                        running.add_done_callback(lambda _: slots.release())
        except ExceptionGroup as errors:  # a failure to write, not a letter's: stop, say what
            raise errors.exceptions[0] from None
        except asyncio.CancelledError:
            if stop.signum is None:
                raise
        finally:
            if self.client is not None and self.client.client is not None:
                await self.client.client.close()

    async def _one(self, task: Task, progress: BatchProgress) -> None:
        outcome = await self._outcome(task)
        if isinstance(outcome, Failure):
            self.ledger.errors.append(outcome.line())
            self.counts.failed += 1
        elif outcome is not None:
            self.ledger.records.append(outcome)
            self.counts.done += 1
        usage = self.counts.usage
        progress.advance(tokens=usage.prompt_tokens + usage.completion_tokens, failed=self.counts.failed)

    async def _outcome(self, task: Task) -> Outcome:
        try:
            if self.requests is not None:
                return await self._prepare(task)
            letter = await self.pool.run(work.record, task, self.options.backend, self.options.llm_config)
            if not isinstance(letter, Letter):  # a record already, or why there is none
                return letter
            try:
                answer = await self._answer(task, letter)
            except Exception as error:
                return Failure.of(error, work.document(letter.source))
            if not isinstance(answer, LLMError):
                self.counts.usage += answer.usage
            keep: OnLLMError = "keep_rules" if self.results is None else "raise"  # kept: live hybrid only
            return await self.pool.run(work.finish, letter, answer, keep)
        except WorkerCrashed as error:
            return Failure.of(error, work.unread(task))

    async def _answer(self, task: Task, letter: Letter) -> LLMResult | LLMError:
        if self.results is not None:
            try:
                return self.results.result(task, self.config, letter.asked or ALL)
            except LLMError as error:
                return error
        return await aask(letter, self.config, client=self.client, slots=self.llm_slots)

    async def _prepare(self, task: Task) -> Outcome:
        assert self.requests is not None
        lines = await self.pool.run(work.batch_requests, task, self.config, self.options.backend)
        if isinstance(lines, Failure | str):  # a failure, or a record the rules were sure of
            return lines
        self.requests.writelines(line + "\n" for line in lines)
        self.counts.prepared += 1
        return None
