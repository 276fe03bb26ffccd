"""Running a batch: worker processes for reading and rules, asyncio for the LLM, one writer.

Per letter: read + rules in the pool -> the LLM pass (async, at most ``concurrency`` calls at
once) -> cross-check in the pool -> one line appended to records.jsonl or errors.jsonl.  The
event loop only waits and writes, so LLM calls never queue behind PDF parsing, and only as
many letters are in flight as keep both the pool and the LLM busy.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

from extractor.errors import ExtractionError
from extractor.jobs import work
from extractor.jobs.inputs import Task, distinct_files, hashed
from extractor.jobs.ledger import Ledger, write_atomically
from extractor.jobs.progress import BatchProgress
from extractor.jobs.summary import RunCounts, write_outputs
from extractor.jobs.work import Failure, Read

if TYPE_CHECKING:
    import instructor

    from extractor.jobs.openai_batch import BatchResults
    from extractor.llm import LLMConfig, LLMResult

log = logging.getLogger(__name__)
T = TypeVar("T")
Outcome = str | Failure | None
"""A record's JSON line, an error, or nothing to write (a letter sent to the requests file)."""


class WorkerCrashed(ExtractionError):
    """A worker process died twice with the letter in flight (a crash reading it, the OOM killer)."""

    kind = "worker_crashed"


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs: the ``extractor batch`` flags."""

    out: Path
    backend: Literal["rules", "llm", "hybrid"] = "rules"
    llm_config: LLMConfig | None = None
    """Required by the llm and hybrid backends, and by prepare_batch and ingest."""
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    concurrency: int = 8
    """LLM calls in flight at once."""
    retry_errors: bool = False
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
        if self.backend == "rules" and (self.prepare_batch or self.ingest):
            raise ValueError("prepare_batch and ingest need the llm or hybrid backend")
        if self.backend != "rules" and self.llm_config is None:
            raise ValueError("the llm and hybrid backends need an llm_config")
        if self.prepare_batch and self.ingest:
            raise ValueError("prepare_batch and ingest are two runs, not one")

    @property
    def calls_llm(self) -> bool:
        """Whether this run sends LLM requests itself (not through Batch API files)."""
        return self.backend != "rules" and self.prepare_batch is None and self.ingest is None


def run_batch(paths: Sequence[str], options: BatchOptions) -> dict[str, Any]:
    """Extract every file of ``paths`` into ``options.out``; returns the summary.

    Inputs with a line in records.jsonl or errors.jsonl are skipped (errors are redone with
    ``retry_errors``), so a killed run is finished by running it again.  A file named twice
    (another spelling, a symlink) is one input.  items.csv and summary.json are rebuilt at the
    end.
    """
    started = time.perf_counter()
    results = _read_results(options.ingest)
    ledger = Ledger(options.out, options.sync_interval)  # locked first: a second run stops at once
    try:
        tasks = hashed(distinct_files(paths))
        todo = ledger.pending(tasks, options.retry_errors)
        counts = RunCounts(skipped=len(tasks) - len(todo))
        if results is not None:
            answered = [task for task in todo if task in results]
            counts.pending = len(todo) - len(answered)
            todo = answered
        if options.prepare_batch is not None:
            write_atomically(
                options.prepare_batch, lambda stream: _execute(todo, options, ledger, counts, requests=stream)
            )
        else:
            _execute(todo, options, ledger, counts, results=results)
    finally:
        ledger.close()
    return write_outputs(
        options.out,
        inputs=len(tasks),
        backend=options.backend,
        counts=counts,
        seconds=time.perf_counter() - started,
    )


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
        asyncio.run(job.run(todo))


class _Pool:
    """The worker processes; replaced when one dies (a crash in the PDF library, the OOM killer).

    Workers are started at once, while this process has no other thread, because forking a
    process with threads can deadlock the child.
    """

    def __init__(self, workers: int, niceness: int = 0) -> None:
        self._workers = workers
        self._niceness = niceness
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            self._workers, initializer=work.start_worker, initargs=(self._niceness,)
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

    async def run(self, todo: list[Task]) -> None:
        if self.options.calls_llm:
            from extractor.llm import make_async_client

            self.client = make_async_client(self.config)
        slots = asyncio.Semaphore(self._window())
        total = self.counts.skipped + len(todo)
        try:
            with BatchProgress(total, self.counts.skipped, enabled=self.options.progress) as progress:
                async with asyncio.TaskGroup() as group:
                    for task in todo:
                        await slots.acquire()
                        running = group.create_task(self._one(task, progress))
                        running.add_done_callback(lambda _: slots.release())
        except ExceptionGroup as errors:  # a failure to write, not a letter's: stop, say what
            raise errors.exceptions[0] from None
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
            if self.options.backend == "rules":
                return await self.pool.run(work.rules_record, task)
            letter = await self.pool.run(work.read, task)
            if isinstance(letter, Failure):
                return letter
            started = time.perf_counter()
            try:
                llm = await self._answer(letter)
            except Exception as error:
                return Failure.of(error, letter.document())
            self.counts.usage += llm.usage
            elapsed = letter.seconds + time.perf_counter() - started
            return await self.pool.run(work.finish, letter, llm, self.options.backend, elapsed)
        except WorkerCrashed as error:
            return Failure.of(error, {"path": task.path, "sha256": task.sha256})

    async def _answer(self, letter: Read) -> LLMResult:
        if self.results is not None:
            return self.results.result(letter.task, self.config)
        from extractor.llm import aextract_with_llm

        async with self.llm_slots:
            return await aextract_with_llm(letter.source.text, self.config, client=self.client)

    async def _prepare(self, task: Task) -> Outcome:
        assert self.requests is not None
        lines = await self.pool.run(work.batch_requests, task, self.config)
        if isinstance(lines, Failure):
            return lines
        self.requests.writelines(line + "\n" for line in lines)
        self.counts.prepared += 1
        return None
