"""The eval harness: run backends over the hand-labelled fixtures, score, compare, report.

Its command line is ``extractor eval`` (extractor.cli.evaluate), which runs it from a checkout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.console import Console
from rich.table import Table

from evals import cassettes
from evals.cassettes import DamagedCassette, MissingCassette
from evals.fixtures import FIXTURES_DIR, DocumentsRootMissing, LoadedFixture, check_set, load_fixtures
from evals.scoring import (
    CATEGORY,
    CODES,
    FieldCount,
    Judged,
    LetterScore,
    Miss,
    aggregate,
    field_order,
    is_list_field,
    judge,
    overall,
    score_fixture,
)
from evals.trust import TrustCount, field_counts, fit, trust_report, with_llm_rates
from extractor import confidence, pipeline
from extractor.errors import ExtractionError, describe
from extractor.fields import field_name, not_read_by
from extractor.llm.prompting import prompt_version, prompt_versions
from extractor.pipeline import LLM_FAILED, extract, llm_failure, load
from extractor.rules import extract_rules
from extractor.schemas import Backend, Category, Record, Usage

if TYPE_CHECKING:
    from extractor.llm import LLMConfig

log = logging.getLogger("extractor.eval")

BACKENDS: tuple[Backend, ...] = tuple(pipeline.BACKENDS)
LLM_BACKENDS = frozenset(name for name, passes in pipeline.BACKENDS.items() if passes.asks)
EVERY_PART = frozenset(name for name, passes in pipeline.BACKENDS.items() if passes.every_part)
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
TOLERANCE = 1e-9
REPORT_VERSION = 1

NOT_EXTRACTED: dict[str, frozenset[str]] = {
    name: not_read_by(passes.reads) for name, passes in pipeline.BACKENDS.items()
}
"""Fields a backend does not try to fill: not scored for it (shown as ``—``)."""


# --------------------------------------------------------------------------- running


@dataclass
class BackendRun:
    """One backend over the fixtures: scores per letter, and what the records said about the model."""

    backend: str
    letters: list[LetterScore] = field(default_factory=list)
    model: str | None = None
    prompt_version: str | None = None
    seconds: float = 0.0
    llm_failed: dict[str, str] = field(default_factory=dict)
    """Letters whose hybrid record is the rules record alone: fixture id -> the failure's check note."""
    needs_review: int = 0
    """Records a person would be asked to look at (``needs_review``): the review a backend costs."""
    disagreements: Counter[str] = field(default_factory=Counter)
    """Cross-check disagreements between the passes, per field (hybrid): what makes that review."""
    requests: int = 0
    """LLM requests the records say their letters took (hybrid asks only where the rules doubt)."""
    usage: Usage = field(default_factory=Usage)
    unrecorded: dict[str, str] = field(default_factory=dict)
    """Letters whose recording was not saved, the cassette kept as it was: fixture id -> why."""
    timestamp: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    @property
    def fields(self) -> dict[str, FieldCount]:
        return aggregate(letter.fields for letter in self.letters)

    @property
    def overall(self) -> FieldCount:
        return overall(self.fields)

    @property
    def citations(self) -> dict[str, FieldCount]:
        """Guideline citations matched on source and pages, per guideline field (not in overall)."""
        return aggregate(letter.citations for letter in self.letters)

    def part(self, fixture_ids: frozenset[str], *, inside: bool = True) -> BackendRun:
        """The same run over only the letters in ``fixture_ids`` (``inside``) or only the others."""
        letters = [letter for letter in self.letters if (letter.fixture_id in fixture_ids) == inside]
        return BackendRun(self.backend, letters, self.model, self.prompt_version)

    @property
    def judged(self) -> list[Judged]:
        """Every labelled value of every record, with its confidence and flag."""
        return [value for letter in self.letters for value in letter.values]

    def trust(self) -> dict[str, Any]:
        records = [letter for letter in self.letters if letter.error is None]
        flagged = sum(letter.needs_review for letter in records)
        return trust_report(self.judged, len(records), flagged, [letter.values for letter in records])

    @property
    def errors(self) -> list[LetterScore]:
        return [letter for letter in self.letters if letter.error is not None]

    @property
    def confusion(self) -> Counter[tuple[str, str]]:
        """(labelled, predicted) category pairs over every letter, counted."""
        return Counter(pair for letter in self.letters for pair in letter.categories)

    @property
    def missing_cassettes(self) -> list[LetterScore]:
        kinds = (f"{MissingCassette.kind}:", f"{DamagedCassette.kind}:")
        return [s for s in self.errors if (s.error or "").startswith(kinds)]


def error_line(error: BaseException) -> str:
    """``kind: reason`` for a failed letter; an unexpected error shows only its type (no text)."""
    return ": ".join(describe(error))


def run_backends(
    fixtures: Sequence[LoadedFixture],
    backends: Sequence[str],
    *,
    config: LLMConfig | None = None,
    record: cassettes.RecordMode = "none",
    cassette_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, BackendRun]:
    """Extract and score every fixture with every backend.

    The LLM backends of one fixture share its cassette (they send the same request), so a
    recording session calls the endpoint once per letter.
    """
    runs = {backend: BackendRun(backend) for backend in backends}
    llm_backends = [b for b in backends if b in LLM_BACKENDS]
    versions = prompt_versions() if llm_backends else None
    model = config.model if config is not None else None
    for run in runs.values():
        if run.backend in LLM_BACKENDS:
            run.model, run.prompt_version = model, prompt_version()
    for number, item in enumerate(fixtures, 1):
        started = time.perf_counter()
        for backend in backends:
            if backend not in LLM_BACKENDS:
                _score(runs[backend], item)
        if llm_backends:
            _run_llm_backends(item, llm_backends, runs, config, record, cassette_dir, model, versions)
        if progress:
            seconds = time.perf_counter() - started
            print(f"eval {number}/{len(fixtures)} {item.id}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return runs


def _run_llm_backends(
    item: LoadedFixture,
    backends: Sequence[str],
    runs: dict[str, BackendRun],
    config: LLMConfig | None,
    record: cassettes.RecordMode,
    cassette_dir: Path | None,
    model: str | None,
    versions: cassettes.Versions | None,
) -> None:
    try:
        mode = mode_name(config)
        with cassettes.use_fixture_cassette(
            item.id,
            model=model,
            prompt_versions=versions,
            record=record,
            root=cassette_dir,
            mode=mode,
            drop_unused=not EVERY_PART.isdisjoint(backends),  # such a backend sends every request
        ) as replay:
            for backend in backends:
                _score(runs[backend], item, config, replay)
        if replay.unanswered:
            why = f"{replay.unanswered} request(s) got no answer to record: {_failure(item, backends, runs)}"
            for backend in backends:
                runs[backend].unrecorded[item.id] = why
    except MissingCassette as error:  # no cassette file (or a stale one): every LLM backend misses
        for backend in backends:
            if not any(letter.fixture_id == item.id for letter in runs[backend].letters):
                runs[backend].letters.append(
                    score_fixture(
                        item.fixture, None, skip=NOT_EXTRACTED.get(backend, ()), error=error_line(error)
                    )
                )


def _failure(item: LoadedFixture, backends: Sequence[str], runs: dict[str, BackendRun]) -> str:
    """How the LLM pass of ``item`` failed, as its first failing backend says (``kind: reason``)."""
    for backend in backends:
        run = runs[backend]
        if item.id in run.llm_failed:
            return run.llm_failed[item.id].removeprefix(f"{LLM_FAILED}: ")
        failed = [s.error for s in run.letters if s.fixture_id == item.id and s.error is not None]
        if failed:
            return failed[0]
    return "no error was reported"


def _score(
    run: BackendRun,
    item: LoadedFixture,
    config: LLMConfig | None = None,
    replay: cassettes.Replay | None = None,
) -> Record | None:
    """Extract one letter with ``run.backend`` and score it; a failure is a letter of misses.

    Hybrid keeps the rules record when the LLM pass fails, as a batch does (the record a user
    gets), and the run lists the letter so that the failure stays in sight.
    """
    skip = NOT_EXTRACTED.get(run.backend, ())
    started = time.perf_counter()
    try:
        record = extract(
            item.document, backend=cast(Backend, run.backend), llm_config=config, on_llm_error="keep_rules"
        )
        if replay is not None and (missing := replay.missed()) is not None:
            raise missing
    except Exception as error:  # every failure is a scored miss, never a crash of the eval
        if replay is not None:
            error = replay.explain(error) or error
        # where it failed, not the exception's messages: pydantic's quote the model's answer
        where = "".join(traceback.format_tb(error.__traceback__))
        log.debug("%s on %s failed: %s\n%s", run.backend, item.id, error_line(error), where)
        run.letters.append(score_fixture(item.fixture, None, skip=skip, error=error_line(error)))
        return None
    finally:
        run.seconds += time.perf_counter() - started
    if (failure := llm_failure(record)) is not None:
        run.llm_failed[item.id] = failure
    run.needs_review += record.needs_review
    run.requests += record.provenance.requests
    run.usage += record.provenance.usage
    run.disagreements.update(field_name(check.field) for check in record.checks if check.status == "disagree")
    letter = score_fixture(item.fixture, record.determination, skip=skip)
    letter.values = judge(item.fixture.determination, record.determination, record.confidence, record.checks)
    letter.needs_review = record.needs_review
    run.letters.append(letter)
    return record


def mode_name(config: LLMConfig | None) -> str | None:
    """The instructor mode a config sends requests in, as ``--mode`` names it."""
    if config is None:
        return None
    from extractor.llm import default_mode

    return config.mode or default_mode(config.base_url)


# --------------------------------------------------------------------------- report


def letter_report(letter: LetterScore) -> dict[str, Any]:
    out: dict[str, Any] = {"right": letter.right, "total": letter.total}
    if letter.error is not None:
        out["error"] = letter.error
    out["misses"] = [miss.as_dict() for miss in letter.misses]
    return out


def scores_report(run: BackendRun) -> dict[str, Any]:
    """How many letters, and their overall, per-field and citation scores."""
    return {
        "fixtures": len(run.letters),
        "overall": run.overall.as_dict(),
        "fields": {name: count.as_dict() for name, count in run.fields.items()},
        "guideline_citations": {name: count.as_dict() for name, count in run.citations.items()},
        "trust": run.trust(),
    }


def held_out_report(run: BackendRun, held_out: frozenset[str]) -> dict[str, Any]:
    """The check set's scores, and the other letters' (the ones rules and prompts were tuned on),
    apart; empty when the run scored no letter of the check set."""
    checked = run.part(held_out)
    if not checked.letters:
        return {}
    ids = sorted(letter.fixture_id for letter in checked.letters)
    others = run.part(held_out, inside=False)
    return {"check_set": {"ids": ids, **scores_report(checked)}, "dev": scores_report(others)}


def backend_report(run: BackendRun, held_out: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {
        "backend": run.backend,
        "model": run.model,
        "prompt_version": run.prompt_version,
        "timestamp": run.timestamp,
        "seconds": round(run.seconds, 3),
        "not_scored": sorted(NOT_EXTRACTED.get(run.backend, ())),
        **scores_report(run),
        "category_confusion": confusion_report(run.confusion),
        "errors": {s.fixture_id: s.error for s in run.errors},
        "llm_failed": dict(sorted(run.llm_failed.items())),
        "review": review_report(run),
        **held_out_report(run, held_out),
        "letters": {s.fixture_id: letter_report(s) for s in sorted(run.letters, key=lambda s: s.fixture_id)},
    }


def confusion_report(confusion: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """``{labelled: {predicted: count}}``, both in the schema's category order."""
    order = {category.value: index for index, category in enumerate(Category)}
    table: dict[str, dict[str, int]] = {}
    for (labelled, predicted), count in sorted(
        confusion.items(), key=lambda kv: (order[kv[0][0]], order[kv[0][1]])
    ):
        table.setdefault(labelled, {})[predicted] = count
    return table


def confusion_table(run: BackendRun) -> Table:
    """Labelled category down, predicted across; only the categories that occur."""
    cells = confusion_report(run.confusion)
    across = [c.value for c in Category if any(c.value in row for row in cells.values())]
    right = sum(row.get(label, 0) for label, row in cells.items())
    total = sum(sum(row.values()) for row in cells.values())
    title = f"{run.backend}: item category, labelled (rows) by predicted ({right}/{total} right)"
    table = Table(title=title, min_width=len(title))
    table.add_column("labelled", no_wrap=True)
    for name in across:
        table.add_column(name.replace("_", " "), justify="right", overflow="fold")
    for label, row in cells.items():
        table.add_row(label, *(_cell(row.get(name, 0), name == label) for name in across))
    return table


def _cell(count: int, diagonal: bool) -> str:
    if not count:
        return ""
    return f"[bold]{count}[/bold]" if diagonal else f"[red]{count}[/red]"


def build_report(runs: dict[str, BackendRun], held_out: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The JSON report: per backend, per-field counts, overall accuracy and per-letter misses, and
    the scores of the ``held_out`` letters (the check set) and of the others apart."""
    return {
        "version": REPORT_VERSION,
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "backends": {name: backend_report(run, held_out) for name, run in runs.items()},
    }


def load_baselines(paths: Sequence[str | Path]) -> dict[str, Any]:
    """One baseline from several reports (e.g. evals/reports/rules.json and hybrid.json);
    a backend in a later file replaces the same backend in an earlier one."""
    merged: dict[str, Any] = {"backends": {}}
    for path in paths:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("backends"), dict):
            raise ValueError(f"{path} is not an eval report (no 'backends')")
        merged["backends"].update(data["backends"])
    return merged


def regressions(report: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """Fields whose accuracy (or, for list fields, precision) is lower than in ``baseline``."""
    worse: list[str] = []
    for backend, current in report.get("backends", {}).items():
        old = baseline.get("backends", {}).get(backend)
        if old is None:
            continue
        for name, before in old.get("fields", {}).items():
            now = current.get("fields", {}).get(name)
            if now is None:
                continue
            for measure in ("accuracy", "precision"):
                was, is_ = before.get(measure), now.get(measure)
                if was is not None and (is_ is None or is_ < was - TOLERANCE):
                    shown = "none" if is_ is None else f"{is_:.4f}"
                    worse.append(f"{backend} {name} {measure}: {was:.4f} -> {shown}")
    return worse


def _baseline_held(report: dict[str, Any], baseline: dict[str, Any], paths: Sequence[str]) -> str:
    """The line that says a baseline was compared and held (or that nothing was compared)."""
    compared = {
        backend: len(set(current.get("fields", {})) & set(baseline["backends"][backend].get("fields", {})))
        for backend, current in report["backends"].items()
        if backend in baseline["backends"]
    }
    files = ", ".join(str(path) for path in paths)
    if not any(compared.values()):
        return f"baseline {files}: nothing compared (it has none of the backends asked for)"
    counts = ", ".join(f"{count} fields of {backend}" for backend, count in compared.items())
    return f"baseline {files}: no field got worse ({counts} compared)"


def below_minimum(runs: dict[str, BackendRun], minimum: float) -> list[str]:
    out = []
    for run in runs.values():
        accuracy = run.overall.accuracy
        if accuracy is None or accuracy < minimum:
            shown = "none" if accuracy is None else f"{accuracy:.4f}"
            out.append(f"{run.backend} overall accuracy {shown} < --min-accuracy {minimum:g}")
    return out


# --------------------------------------------------------------------------- printing


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def scores_table(runs: dict[str, BackendRun]) -> Table:
    """Field rows; right, total, accuracy (recall) and precision per backend, side by side."""
    table = Table(
        title="Eval: right / labelled per field",
        caption="acc = right/labelled (recall); prec = right/predicted; — = not scored",
    )
    table.add_column("field", overflow="fold")
    for backend in runs:
        for column in ("right", "total", "acc", "prec"):
            table.add_column(f"{backend}\n{column}", justify="right", no_wrap=True)
    per_backend = {backend: run.fields for backend, run in runs.items()}
    shown = {n for fields in per_backend.values() for n in fields}
    shown |= {n for backend in runs for n in NOT_EXTRACTED.get(backend, ())}
    names = [n for n in field_order() if n in shown]
    names += sorted(shown - set(names))
    for name in names:
        cells = [name]
        for backend, fields in per_backend.items():
            count = fields.get(name)
            if count is None:
                cells += ["—", "—", "—", ""] if name in NOT_EXTRACTED.get(backend, ()) else ["", "", "", ""]
                continue
            prec = _pct(count.precision) if is_list_field(name) else ""
            cells += [str(count.right), str(count.total), _pct(count.accuracy), prec]
        table.add_row(*cells)
    table.add_section()
    cells = ["overall (micro)"]
    for run in runs.values():
        total = run.overall
        cells += [str(total.right), str(total.total), _pct(total.accuracy), ""]
    table.add_row(*cells, style="bold")
    return table


def miss_line(miss: Miss) -> str:
    """``where: expected X got Y`` (label values and extracted values, shortened)."""
    if miss.kind == "missed":
        return f"{miss.where}: missed item {_short(miss.expected)}"
    if miss.kind == "invented":
        return f"{miss.where}: invented item {_short(miss.got)}"
    return f"{miss.where}: expected {_short(miss.expected)} got {_short(miss.got)}"


SIDE_BY_SIDE_WIDTH = 140
"""Narrower than this, each backend gets a table of its own: a figure is never cut to fit."""


def review_report(run: BackendRun) -> dict[str, Any]:
    """How many records need review, of those extracted, and the disagreements behind them."""
    return {
        "needs_review": run.needs_review,
        "records": len(run.letters) - len(run.errors),
        "requests": run.requests,
        "prompt_tokens": run.usage.prompt_tokens,
        "completion_tokens": run.usage.completion_tokens,
        "disagreements": dict(sorted(run.disagreements.items(), key=lambda pair: (-pair[1], pair[0]))),
    }


def review_line(run: BackendRun) -> str | None:
    """``hybrid: 55 of 63 records need review; 129 disagreements: ...`` (None when none do)."""
    review = review_report(run)
    if not review["needs_review"] and not review["disagreements"]:
        return None
    line = f"{run.backend}: {review['needs_review']} of {review['records']} records need review"
    if review["requests"]:
        line += f" ({review['requests']} LLM requests)"
    if disagreements := review["disagreements"]:
        fields = ", ".join(f"{name} {count}" for name, count in disagreements.items())
        line += f"; {sum(disagreements.values())} cross-check disagreement(s): {fields}"
    return line


def _side(name: str) -> str:
    """``claims administrator`` for ``items[].claims_administrator_guidelines``."""
    return name.removeprefix("items[].").removesuffix("_guidelines").replace("_", " ")


def citations_line(run: BackendRun) -> str | None:
    """Citations found by source and pages, per guideline field: recall and precision."""
    parts = [
        f"{_side(name)} {count.right}/{count.total} recall {_pct(count.recall)}, "
        f"precision {_pct(count.precision)}"
        for name, count in run.citations.items()
    ]
    return f"{run.backend}: guideline citations by source and pages: " + "; ".join(parts) if parts else None


def _fraction(count: FieldCount) -> str:
    return f"{_pct(count.accuracy)} ({count.right}/{count.total})"


def held_out_line(run: BackendRun, held_out: frozenset[str]) -> str | None:
    """``llm: check set (17 letters kept aside) overall …, citations …; the other 46 letters …``."""
    checked, tuned = run.part(held_out), run.part(held_out, inside=False)
    if not checked.letters:
        return None

    def scores(part: BackendRun) -> str:
        cited = ", ".join(f"{_side(name)} {_fraction(count)}" for name, count in part.citations.items())
        overall = f"overall {_fraction(part.overall)}"
        if CODES in part.fields:
            codes, categories = part.fields[CODES], part.fields[CATEGORY]
            overall += f", ICD-10-CM codes {_fraction(codes)}, categories {_fraction(categories)}"
        return f"{overall}, citations (source and pages) {cited}" if cited else overall

    line = f"{run.backend}: check set ({_letters(checked)} kept aside) {scores(checked)}"
    return line + (f"; the other {_letters(tuned)} {scores(tuned)}" if tuned.letters else "")


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def trust_line(name: str, run: BackendRun) -> str | None:
    """What the flags do on ``run``'s letters: unflagged accuracy, catch rate, review share."""
    judged = run.judged
    if not judged:
        return None
    count, report = TrustCount.of(judged), run.trust()
    error = report["calibration_error"]
    return (
        f"{run.backend} flags ({name}): unflagged values right {_share(count.accepted_accuracy)}, "
        f"wrong values flagged {count.caught}/{count.wrong} ({_share(count.catch_rate)}), "
        f"values flagged {_share(count.flagged_share)}, records flagged {report['records_flagged']}/"
        f"{report['records']} ({_share(report['records_flagged_share'])}), "
        f"calibration error {'n/a' if error is None else f'{error:.3f}'}"
    )


def trust_lines(run: BackendRun, held_out: frozenset[str]) -> list[str]:
    """The trust line of the check set and of the other letters, apart (or of all, with none)."""
    if not held_out or not run.part(held_out).letters:
        return [line] if (line := trust_line("all letters", run)) else []
    parts = (("check set", run.part(held_out)), ("dev", run.part(held_out, inside=False)))
    return [line for name, part in parts if (line := trust_line(name, part))]


def _trust_cell(count: TrustCount | None) -> str:
    if count is None:
        return "—"
    return f"{count.caught}/{count.wrong}; {count.flagged}/{count.values}; {_share(count.accepted_accuracy)}"


def trust_table(run: BackendRun, held_out: frozenset[str]) -> Table | None:
    """Per field, on the check set and on the letters tuned on, apart: wrong values, how many of
    them are flagged, the values flagged and the accuracy of those left unflagged."""
    checked, others = run.part(held_out), run.part(held_out, inside=False)
    parts = [("check set", checked), ("dev", others)] if held_out and checked.letters else [("all", run)]
    if not any(part.judged for _, part in parts):
        return None
    heading = "flags per field (wrong flagged / wrong; values flagged; unflagged right)"
    table = Table(title=f"{run.backend}: {heading}")
    table.add_column("field", no_wrap=True)
    for name, _ in parts:
        table.add_column(name, justify="right")
    counts = [field_counts(part.judged) for _, part in parts]
    order = {name: index for index, name in enumerate(field_order())}
    for name in sorted(set().union(*counts), key=lambda f: order.get(f, len(order))):
        table.add_row(name, *(_trust_cell(by_field.get(name)) for by_field in counts))
    return table


def reliability_table(run: BackendRun, held_out: frozenset[str]) -> Table | None:
    """Values binned by confidence against their accuracy, on the check set (else all letters)."""
    checked = run.part(held_out)
    part, name = (checked, "check set") if held_out and checked.letters else (run, "all letters")
    bins = part.trust()["reliability"]
    if not any(b["values"] for b in bins):
        return None
    table = Table(title=f"{run.backend}: reliability ({name}): confidence against accuracy")
    for column in ("confidence", "values", "mean confidence", "accuracy"):
        table.add_column(column, justify="right")
    for b in bins:
        if b["values"]:
            table.add_row(b["bin"], str(b["values"]), f"{b['confidence']:.3f}", f"{b['accuracy']:.3f}")
    return table


def _letters(run: BackendRun) -> str:
    return f"{len(run.letters)} letter{'' if len(run.letters) == 1 else 's'}"


def print_summary(
    console: Console,
    runs: dict[str, BackendRun],
    worst: int = 8,
    per_letter: int = 4,
    held_out: frozenset[str] = frozenset(),
) -> None:
    side_by_side = console.width >= SIDE_BY_SIDE_WIDTH
    for group in [runs] if side_by_side else [{name: run} for name, run in runs.items()]:
        console.print(scores_table(group))
    for run in runs.values():
        if run.confusion:
            console.print(confusion_table(run))
        for table in (trust_table(run, held_out), reliability_table(run, held_out)):
            if table is not None:
                console.print(table)
    for run in runs.values():
        lines = (
            citations_line(run),
            held_out_line(run, held_out),
            review_line(run),
            *trust_lines(run, held_out),
        )
        for line in lines:
            if line:
                console.print(line, markup=False, soft_wrap=True)
    for run in runs.values():
        if run.model or run.prompt_version:
            console.print(f"{run.backend}: model {run.model}, prompt_version {run.prompt_version}")
        errors = run.errors
        if errors:
            console.print(f"[bold]{run.backend}: {len(errors)} letter(s) gave no record (all missed):[/bold]")
            for letter in errors[:worst]:
                console.print(f"  {letter.fixture_id}: {letter.error}", markup=False, soft_wrap=True)
            if len(errors) > worst:
                console.print(f"  … and {len(errors) - worst} more (see the report)")
        if run.llm_failed:
            console.print(
                f"[bold]{run.backend}: {len(run.llm_failed)} letter(s) kept their rules record:[/bold]"
            )
            for fixture_id, failure in sorted(run.llm_failed.items())[:worst]:
                console.print(f"  {fixture_id}: {failure}", markup=False, soft_wrap=True)
        ranked = sorted(
            (s for s in run.letters if s.misses and s.error is None), key=lambda s: (-s.wrong, s.fixture_id)
        )
        if not ranked:
            continue
        console.print(f"[bold]{run.backend}: letters with the most misses[/bold]")
        for letter in ranked[:worst]:
            console.print(
                f"  {letter.fixture_id}: {letter.wrong} wrong of {letter.total}", markup=False, soft_wrap=True
            )
            for miss in letter.misses[:per_letter]:
                console.print(f"    {miss_line(miss)}", markup=False, soft_wrap=True)
            if len(letter.misses) > per_letter:
                console.print(f"    … {len(letter.misses) - per_letter} more", markup=False, soft_wrap=True)


# --------------------------------------------------------------------------- command


def write_calibration(
    fixtures: Sequence[LoadedFixture], config: LLMConfig, cassette_dir: Path | None = None
) -> Path:
    """Fit the confidence calibration on ``fixtures`` (the letters one tunes on) and write it where
    the package reads it: the rules pass's doubts and values against their labels, then the llm
    backend's values and hybrid's agreements and disagreements, replayed from the cassettes."""
    letters = []
    for item in fixtures:
        try:
            rules = extract_rules(load(item.document).text)
        except ExtractionError:
            continue
        letters.append((item.fixture.determination, rules.determination, rules.doubts))
    # every part asked, so that each field's agreements and contests are counted on every letter
    every_part = config.model_copy(update={"scope": "all"})
    runs = run_backends(fixtures, ["llm", "hybrid"], config=every_part, cassette_dir=cassette_dir)
    table = with_llm_rates(fit(letters), runs["llm"].judged, runs["hybrid"].judged)
    target = Path(confidence.__file__).with_name(confidence.CALIBRATION_FILE)
    target.write_text(json.dumps(table.as_dict(), indent=2) + "\n", encoding="utf-8")
    confidence.reset()
    return target


def with_components(backends: Sequence[str]) -> list[str]:
    """``backends`` and the passes they merge, in :data:`BACKENDS` order."""
    wanted = set(backends) | {c for b in backends if b in BACKENDS for c in pipeline.BACKENDS[b].compares}
    return [b for b in BACKENDS if b in wanted]


def _backends(values: Sequence[str] | None) -> list[str]:
    chosen: list[str] = []
    for value in values or ["rules"]:
        for name in value.split(","):
            name = name.strip()
            if not name:
                continue
            if name not in BACKENDS:
                raise argparse.ArgumentTypeError(
                    f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})"
                )
            if name not in chosen:
                chosen.append(name)
    return chosen


def _llm_config(configured: Callable[[], LLMConfig | None], record: bool) -> LLMConfig:
    from extractor.llm import LLMConfig

    config = configured() or LLMConfig.from_env()
    if not record:
        # Replay: a request not in the cassette is final, not a transient connection error.
        config = config.model_copy(update={"transport_retries": 0})
    return config


def run(args: argparse.Namespace, configured: Callable[[], LLMConfig | None]) -> int:
    """``extractor eval`` with its parsed options (see extractor.cli.evaluate); ``configured`` gives
    the endpoint the command line or environment names, if any (read while replay's dummy key
    is set). The exit status."""
    err = Console(stderr=True)
    try:
        requested = _backends(args.backend)
        fixtures = load_fixtures(args.fixtures, args.documents, args.only)
    except (DocumentsRootMissing, argparse.ArgumentTypeError, ValueError) as error:
        err.print(f"extractor eval: {error}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    if not fixtures:
        err.print(
            f"extractor eval: no labels (*.json) in {args.fixtures or FIXTURES_DIR}",
            markup=False,
            soft_wrap=True,
        )
        return EXIT_USAGE
    held_out = check_set(args.fixtures)
    record: cassettes.RecordMode = args.record or "none"
    backends = with_components(requested)
    needs_llm = any(b in LLM_BACKENDS for b in backends)
    if record != "none" and not needs_llm:
        err.print(
            "extractor eval: --record has nothing to record for the rules backend",
            markup=False,
            soft_wrap=True,
        )
    cassette_dir = Path(args.cassettes) if args.cassettes else None
    with cassettes.dummy_api_key() if record == "none" else contextlib.nullcontext():
        if getattr(args, "calibrate", False):
            tuned_on = [item for item in fixtures if item.id not in held_out]
            written = write_calibration(tuned_on, _llm_config(configured, False), cassette_dir)
            note = f"calibration fitted on {len(tuned_on)} letters (not the check set), written to {written}"
            err.print(note, markup=False, soft_wrap=True)
        config = _llm_config(configured, record != "none") if needs_llm else None
        runs = run_backends(
            fixtures,
            backends,
            config=config,
            record=record,
            cassette_dir=cassette_dir,
            progress=needs_llm and (record != "none" or getattr(args, "verbose", 0) > 0),
        )
    console = Console(width=None if sys.stdout.isatty() else 200)
    print_summary(console, runs, held_out=held_out)
    report = build_report(runs, held_out)
    if args.report:
        path = Path(args.report)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        console.print(f"report written to {path}", markup=False, soft_wrap=True)
    judged = {name: run for name, run in runs.items() if name in requested}
    judged_report = {"backends": {name: data for name, data in report["backends"].items() if name in judged}}
    return _verdict(console, judged, judged_report, args)


def _verdict(
    console: Console, runs: dict[str, BackendRun], report: dict[str, Any], args: argparse.Namespace
) -> int:
    """Exit status from the backends in ``runs`` and ``report`` (the ones asked for)."""
    failures: list[str] = []
    missing = [letter for run in runs.values() for letter in run.missing_cassettes]
    if missing:
        failures.append(
            f"{len(missing)} LLM run(s) had no cassette (or a damaged one): "
            f"re-record with `extractor eval --backend hybrid --record` (or `make record`)"
        )
    unrecorded = dict(sorted(item for run in runs.values() for item in run.unrecorded.items()))
    if unrecorded:
        first, why = next(iter(unrecorded.items()))
        failures.append(
            f"{len(unrecorded)} cassette(s) not recorded, kept as they were; first {first}: {why}"
        )
    if args.min_accuracy is not None:
        failures += below_minimum(runs, args.min_accuracy)
    if args.baseline:
        try:
            baseline = load_baselines(args.baseline)
        except (OSError, ValueError) as error:
            console.print(f"extractor eval: cannot read baseline: {error}", markup=False, soft_wrap=True)
            return EXIT_USAGE
        for backend in sorted(set(report["backends"]) - set(baseline["backends"])):
            console.print(
                f"baseline has no {backend} run: {backend} not compared", markup=False, soft_wrap=True
            )
        worse = regressions(report, baseline)
        if worse:
            failures.append(f"{len(worse)} field(s) got worse than the baseline:")
            failures += [f"  {line}" for line in worse]
        else:
            console.print(_baseline_held(report, baseline, args.baseline), markup=False, soft_wrap=True)
    for line in failures:
        console.print(f"[red]FAIL[/red] {line}" if not line.startswith("  ") else line, highlight=False)
    return EXIT_FAILED if failures else EXIT_OK
