"""The statistics of a batch: overturn rates with Wilson intervals, items, citations, data quality.

Every figure is a DuckDB query over the view ``base`` (``items_wide``, filtered by ``--where``,
with an ``overturned`` flag) of the records as reviewed, except the reviews' own figures, which
``analytics.reviews`` counts as it applies them; this module turns the answers into plain
dataclasses that the terminal, the HTML report and ``--json``/``--csv`` all show.
"""

from __future__ import annotations

import functools
import json
import math
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from extractor.analytics import tables
from extractor.analytics.reviews import ReviewSummary, reviewed_lines

if TYPE_CHECKING:
    import duckdb

Z95 = 1.959963984540054
"""The standard normal quantile for a two-sided 95% interval."""
SMALL_GROUP = 10
"""Groups with fewer items are marked: their interval is too wide to read much into."""
AGE_BANDS = ((0, 17), (18, 30), (31, 40), (41, 50), (51, 64), (65, None))
"""The age bands of DMHC's IMR data set."""
UNKNOWN = "unknown"
NA = "n/a"
"""A rate of no items: shown so, never as 0% with an interval of 0-100%."""
PUBLISHED_SHARES = {"opioid": 0.239, "topical_analgesic": 0.174, "muscle_relaxant": 0.163}
"""The classes' shares of pharmaceutical requests the Division of Workers' Compensation published
for 2024 (DWC, Independent Medical Review annual report, 2024: opioids 23.9%, topical
analgesics 17.4%, muscle relaxants 16.3%), to set a batch's own shares beside."""
PUBLISHED_SOURCE = "DWC IMR report 2024"


def wilson(overturned: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``overturned / n``: unlike p ± z·se it stays within [0, 1]
    and is honest for the small groups and rates near 0 that IMR data are full of."""
    if n == 0:
        return 0.0, 1.0
    p = overturned / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


@dataclass(frozen=True)
class Rate:
    """Items in a group, how many were overturned, and the rate's 95% interval."""

    group: str
    n: int
    overturned: int

    @property
    def rate(self) -> float:
        return self.overturned / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.overturned, self.n)

    @property
    def small(self) -> bool:
        return self.n < SMALL_GROUP

    def shown(self) -> str:
        """The rate as a percentage, or n/a for a group without items (0/0 is no rate)."""
        return percent(self.rate) if self.n else NA

    def shown_interval(self) -> str:
        low, high = self.interval
        return f"{percent(low)}-{percent(high)}" if self.n else NA

    def describe(self) -> str:
        """``20.2% (23/114, 95% CI 13.8-28.5%)``, with ``*`` for a small group; ``n/a (no items)``."""
        if not self.n:
            return f"{NA} (no items)"
        mark = "*" if self.small else ""
        return f"{self.shown()} ({self.overturned}/{self.n}{mark}, 95% CI {self.shown_interval()})"


@dataclass(frozen=True)
class RateTable:
    name: str
    title: str
    rates: list[Rate]


@dataclass(frozen=True)
class CrossTab:
    """Overturn rates by two fields at once (``--by a,b``)."""

    rows_by: str
    columns_by: str
    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Rate]


@dataclass(frozen=True)
class Counts:
    name: str
    title: str
    header: tuple[str, ...]
    rows: list[tuple[object, ...]]


@dataclass
class Report:
    source: str
    where: str | None
    letters: int
    overall: Rate
    decided: tuple[str, str] | None = None
    """The first and last decision dates of the letters counted."""
    rates: list[RateTable] = field(default_factory=list)
    kinds: RateTable | None = None
    items_per_letter: Counts | None = None
    citations: list[Counts] = field(default_factory=list)
    quality: list[Counts] = field(default_factory=list)
    by: RateTable | None = None
    """``--by FIELD``: the rates by that one field."""
    crosstab: CrossTab | None = None
    """``--by A,B``: the rates by both."""
    drug_classes: Counts | None = None
    """Medication items by drug class, beside the published shares (:data:`PUBLISHED_SHARES`)."""
    reviews: ReviewSummary = field(default_factory=ReviewSummary)

    @property
    def title(self) -> str:
        """What the report covers: ``50 letters decided 2016-12-09 to 2017-02-28, 114 disputed items``."""
        decided = f" decided {self.decided[0]} to {self.decided[1]}" if self.decided else ""
        where = f" where {self.where}" if self.where else ""
        return f"{self.letters} letters{decided}, {self.overall.n} disputed items{where}"


@dataclass(frozen=True)
class Dimension:
    """A way to group items: SQL giving ``(item_key, value)`` pairs from ``base``; an item with
    several values (specialties, cited sources) is counted in each."""

    name: str
    title: str
    sql: str
    natural_order: bool = False
    """Sort groups by value (months, age bands), not by size."""
    needs: str | None = None
    """A table the schema may not have; without it the dimension is left out."""
    in_report: bool = True
    """In the whole report, or only when ``--by`` asks for it."""


ALIASES = {"year": "decision_year", "quarter": "decision_quarter", "month": "decision_month"}
"""``--by year|quarter|month``: the decision date's."""
SPECIALTY_NAMES = "specialty_names"
"""The temporary table of extractor/specialties.toml: a specialty as spelt -> its one name."""


def _spelt(value: str) -> str:
    """SQL for how a specialty is looked up in specialties.toml: lower-cased, "&" as "and", spaces
    run together."""
    return f"regexp_replace(lower(trim(replace({value}, '&', ' and '))), '\\s+', ' ', 'g')"


@functools.cache
def specialty_names() -> dict[str, str]:
    """extractor/specialties.toml's mapping, as its keys are looked up."""
    text = files("extractor").joinpath("specialties.toml").read_text(encoding="utf-8")
    return dict(tomllib.loads(text)["names"])


def _age_band_sql() -> str:
    cases = " ".join(
        f"WHEN age >= {low}" + (f" AND age <= {high} THEN '{low}-{high}'" if high else f" THEN '{low}+'")
        for low, high in AGE_BANDS
    )
    return f"CASE {cases} ELSE '{UNKNOWN}' END"


_NEW_CITATION = """
    SELECT item_key, CASE WHEN EXISTS (
        SELECT 1 FROM guidelines r WHERE r.item_key = base.item_key AND r.side = 'reviewer'
        AND coalesce(r.title, r.source) IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM guidelines c WHERE c.item_key = r.item_key AND c.side = 'claims_administrator'
            AND lower(coalesce(c.title, c.source)) = lower(coalesce(r.title, r.source))))
    THEN 'yes' ELSE 'no' END FROM base
"""

# an item counts under each coded diagnosis of its letter
_DIAGNOSES = (
    "SELECT DISTINCT item_key, d.{column} FROM base JOIN diagnoses d USING (letter_key) "
    "WHERE d.chapter IS NOT NULL"
)

DIMENSIONS = (
    Dimension("category", "category", f"SELECT item_key, coalesce(category, '{UNKNOWN}') FROM base"),
    Dimension(
        "body_region",
        "body region",
        "SELECT DISTINCT item_key, region FROM base JOIN body_regions USING (item_key)",
        needs="body_regions",
    ),
    Dimension(
        "guideline_source",
        "guideline source the reviewer cites",
        "SELECT DISTINCT item_key, coalesce(source, 'none cited') FROM base JOIN guidelines USING (item_key) "
        "WHERE side = 'reviewer'",
    ),
    Dimension(
        "guideline_chapter",
        "guideline chapter the reviewer cites",
        f"SELECT DISTINCT item_key, source || ': ' || coalesce(chapter, '{UNKNOWN}') FROM base "
        "JOIN guidelines USING (item_key) WHERE side = 'reviewer' AND source IN ('MTUS', 'ACOEM', 'ODG')",
    ),
    Dimension(
        "drug_class",
        "drug class (medication items)",
        f"SELECT item_key, coalesce(drug_class, '{UNKNOWN}') FROM base WHERE category = 'medication'",
    ),
    Dimension(
        "specialty",
        "reviewer specialty",
        "SELECT DISTINCT item_key, coalesce(n.name, s.value) FROM (SELECT item_key, unnest(specialties) "
        f"AS value FROM base) AS s LEFT JOIN {SPECIALTY_NAMES} AS n ON n.spelt = {_spelt('s.value')}",
    ),
    Dimension(
        "icd_chapter",
        "ICD-10-CM chapter of the patient's diagnoses",
        _DIAGNOSES.format(column="chapter"),
    ),
    Dimension(
        "icd_category",
        "ICD-10-CM category of the patient's diagnoses",
        _DIAGNOSES.format(column="category"),
    ),
    Dimension("priority", "priority", f"SELECT item_key, coalesce(priority, '{UNKNOWN}') FROM base"),
    Dimension(
        "decision_year",
        "decision year",
        f"SELECT item_key, coalesce(strftime(decision_date, '%Y'), '{UNKNOWN}') FROM base",
        natural_order=True,
    ),
    Dimension(
        "decision_quarter",
        "decision quarter",
        f"SELECT item_key, coalesce(strftime(decision_date, '%Y-Q') || quarter(decision_date), '{UNKNOWN}') "
        "FROM base",
        natural_order=True,
        in_report=False,
    ),
    Dimension(
        "decision_month",
        "decision year-month",
        f"SELECT item_key, coalesce(strftime(decision_date, '%Y-%m'), '{UNKNOWN}') FROM base",
        natural_order=True,
    ),
    Dimension("age_band", "age band", f"SELECT item_key, {_age_band_sql()} FROM base", natural_order=True),
    Dimension("sex", "sex", f"SELECT item_key, coalesce(sex, '{UNKNOWN}') FROM base"),
    Dimension(
        "reviewer_adds_guideline",
        "reviewer cites a guideline the claims administrator did not",
        _NEW_CITATION,
    ),
)


class StatsError(ValueError):
    """A ``--by`` or ``--where`` the data cannot answer; the message says why in one line."""


def _where_error(where: str | None, error: duckdb.Error) -> StatsError:
    """Why ``--where`` failed, in one line. A parse or bind error quotes only the filter; others
    (a failed cast) may quote a value of the records, which is letter text, so only their kind
    is said."""
    import duckdb

    if isinstance(error, duckdb.ParserException):
        why = f"{_first_line(error)} (give one condition on {tables.WIDE})"
    elif isinstance(error, duckdb.BinderException | duckdb.CatalogException | duckdb.PermissionException):
        why = _first_line(error)
    else:
        why = f"{type(error).__name__} on a value of the records (not shown: it is letter text)"
    return StatsError(f"--where {where!r}: {why}")


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]


def connect(
    records: Path, where: str | None = None, lines: list[str] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory database with the tables of ``records`` (or of ``lines`` read from it) and
    the view ``base``.

    ``where`` is text from the command line, so it is never pasted into SQL: DuckDB's parser
    reads it as one expression (a ``;``, a second statement or a ``UNION`` is a parse error),
    and by then the data are loaded and files are out of reach (``enable_external_access``
    off, the configuration locked), so not even a subquery in it can read or write a file.
    """
    import duckdb

    con = duckdb.connect()
    tables.load(con, records, lines)
    con.execute(f"CREATE TEMP TABLE {SPECIALTY_NAMES} (spelt VARCHAR, name VARCHAR)")
    con.executemany(f"INSERT INTO {SPECIALTY_NAMES} VALUES (?, ?)", list(specialty_names().items()))
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    try:
        wide = con.view(tables.WIDE)
        filtered = wide.filter(where) if where else wide
        filtered.project("*, decision = 'Overturned' AS overturned").create_view("base")
        con.execute("SELECT count(*) FROM base").fetchall()
    except duckdb.Error as error:
        con.close()
        raise _where_error(where, error) from None
    return con


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return name in tables.table_names(con)


def _columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The columns of ``items_wide``: those of this schema."""
    return [row[0] for row in con.execute(f"DESCRIBE {tables.WIDE}").fetchall()]


def dimensions(con: duckdb.DuckDBPyConnection) -> dict[str, Dimension]:
    """The dimensions this data has, by name."""
    return {d.name: d for d in DIMENSIONS if d.needs is None or _has_table(con, d.needs)}


def dimension(con: duckdb.DuckDBPyConnection, name: str) -> Dimension:
    """A named dimension, or any column of ``items_wide`` as one."""
    known = dimensions(con)
    name = ALIASES.get(name, name)
    if name in known:
        return known[name]
    if name not in _columns(con):
        raise StatsError(
            f"--by {name}: no such field; use one of {', '.join([*known, *ALIASES])} "
            f"or a column of {tables.WIDE}"
        )
    return Dimension(
        name, name, f"SELECT item_key, coalesce(CAST(\"{name}\" AS VARCHAR), '{UNKNOWN}') FROM base"
    )


def rate_table(con: duckdb.DuckDBPyConnection, dim: Dimension) -> RateTable:
    rows = con.execute(
        f"SELECT d.value, count(*), count(*) FILTER (WHERE overturned) FROM base "
        f"JOIN ({dim.sql}) AS d(item_key, value) USING (item_key) GROUP BY 1"
    ).fetchall()
    rates = [Rate(str(value), int(n), int(k)) for value, n, k in rows]
    order = (lambda r: r.group) if dim.natural_order else (lambda r: (-r.n, r.group))
    return RateTable(dim.name, dim.title, sorted(rates, key=order))


def crosstab(con: duckdb.DuckDBPyConnection, *pair: Dimension) -> CrossTab:
    rows_by, columns_by = pair
    answer = con.execute(
        f"SELECT a.value, b.value, count(*), count(*) FILTER (WHERE overturned) FROM base "
        f"JOIN ({rows_by.sql}) AS a(item_key, value) USING (item_key) "
        f"JOIN ({columns_by.sql}) AS b(item_key, value) USING (item_key) GROUP BY 1, 2"
    ).fetchall()
    cells = {(str(a), str(b)): Rate(f"{a} / {b}", int(n), int(k)) for a, b, n, k in answer}

    def ordered(dim: Dimension, values: set[str], position: int) -> list[str]:
        if dim.natural_order:
            return sorted(values)
        size = {v: sum(r.n for key, r in cells.items() if key[position] == v) for v in values}
        return sorted(values, key=lambda v: (-size[v], v))

    return CrossTab(
        rows_by.name,
        columns_by.name,
        ordered(rows_by, {a for a, _ in cells}, 0),
        ordered(columns_by, {b for _, b in cells}, 1),
        cells,
    )


_RETROSPECTIVE = r"regexp_matches(request, '(?i)\bretro(spective(ly)?)?\b')"
_AFTER_DENIED_SURGERY = (
    "EXISTS (SELECT 1 FROM items s WHERE s.letter_key = base.letter_key "
    "AND s.item_index = base.depends_on AND s.decision = 'Upheld')"
)
ITEM_KINDS = (
    ("all items", "true", None),
    ("partial authorisation", "original_request IS NOT NULL", None),
    ("retrospective", _RETROSPECTIVE, None),
    ("retrospective, with a date of service", "date_of_service IS NOT NULL", "date_of_service"),
    ("serves a surgery whose denial was upheld", _AFTER_DENIED_SURGERY, "depends_on"),
)
"""(label, condition on ``base``, the column it needs when the schema may not have it)."""


def item_kinds(con: duckdb.DuckDBPyConnection) -> RateTable:
    """Overturn rates of all items and of the kinds analysts ask about, where the schema has them."""
    columns = _columns(con)
    rates = []
    for label, condition, needs in ITEM_KINDS:
        if needs is not None and needs not in columns:
            continue
        n, k = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE overturned) FROM base WHERE {condition}"
        ).fetchone() or (0, 0)
        rates.append(Rate(label, int(n), int(k)))
    return RateTable("item_kinds", "kind of item", rates)


def drug_classes(con: duckdb.DuckDBPyConnection) -> Counts:
    """Medication items by drug class, each class's share of them beside the share the Division
    published for 2024, so that a batch can be read against the state's figures."""
    rows = con.execute(
        f"SELECT coalesce(drug_class, '{UNKNOWN}'), count(*) FROM base WHERE category = 'medication' "
        "GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    total = sum(int(n) for _, n in rows)
    published = {name: percent(share) for name, share in PUBLISHED_SHARES.items()}
    return Counts(
        "drug_classes",
        f"pharmaceutical requests by drug class, beside the published shares ({PUBLISHED_SOURCE})",
        ("drug class", "items", "share", PUBLISHED_SOURCE),
        [(name, int(n), percent(int(n) / total), published.get(str(name), "—")) for name, n in rows],
    )


def items_per_letter(con: duckdb.DuckDBPyConnection) -> Counts:
    rows = con.execute(
        "SELECT items, count(*) FROM (SELECT letter_key, count(*) AS items FROM base GROUP BY 1) "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return Counts("items_per_letter", "items per letter", ("items", "letters"), [tuple(r) for r in rows])


def top_citations(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[Counts]:
    """The most cited guideline titles and sections on each side, with the decisions they went with."""
    found = []
    for what, value in (("title", "coalesce(title, source, 'none cited')"), ("section", "unnest(sections)")):
        for side in ("claims_administrator", "reviewer"):
            rows = con.execute(
                "SELECT value, count(DISTINCT item_key) AS items, "
                "count(DISTINCT item_key) FILTER (WHERE NOT overturned), "
                "count(DISTINCT item_key) FILTER (WHERE overturned) "
                f"FROM (SELECT item_key, overturned, {value} AS value FROM base "
                f"JOIN guidelines USING (item_key) WHERE side = '{side}') "
                f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {limit}"
            ).fetchall()
            found.append(
                Counts(
                    f"{side}_{what}s",
                    f"most cited {what}s: {side.replace('_', ' ')}",
                    (what, "items", "upheld", "overturned"),
                    [tuple(r) for r in rows],
                )
            )
    return found


def quality(con: duckdb.DuckDBPyConnection, errors: Path | None) -> list[Counts]:
    """How far to trust the numbers: records needing review, the cross-checks, failed letters."""
    n, review = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE needs_review) FROM letters"
    ).fetchone() or (0, 0)
    found = [Counts("needs_review", "records", ("records", "need review"), [(int(n), int(review))])]
    statuses = con.execute("SELECT status, count(*) FROM checks GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    found.append(
        Counts("checks_by_status", "checks by status", ("status", "checks"), [tuple(r) for r in statuses])
    )
    by_field = con.execute(
        "SELECT regexp_replace(field, '\\[\\d+\\]', '[]', 'g') AS f, count(*), "
        "count(*) FILTER (WHERE status = 'agree'), count(*) FILTER (WHERE status = 'disagree'), "
        "count(*) FILTER (WHERE status = 'rules_only'), count(*) FILTER (WHERE status = 'llm_only'), "
        "count(*) FILTER (WHERE review) FROM checks GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    found.append(
        Counts(
            "checks_by_field",
            "checks by field",
            ("field", "checks", "agree", "disagree", "rules_only", "llm_only", "review"),
            [tuple(r) for r in by_field],
        )
    )
    if errors is not None:
        found.append(Counts("failed", "letters that failed", ("error", "letters"), failed_letters(errors)))
    return found


def decided(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """The first and last decision dates of the letters counted (None: no dates)."""
    first, last = con.execute("SELECT min(decision_date), max(decision_date) FROM base").fetchone() or (
        None,
        None,
    )
    return (str(first), str(last)) if first is not None else None


def review_quality(reviewed: ReviewSummary) -> list[Counts]:
    """What the reviewers did: letters reviewed, corrections by field, and the share of flagged
    values they changed, which is how often a flag was right (none without a review log)."""
    if not reviewed.applied:
        return []
    share = Rate("flagged values changed", reviewed.flagged, reviewed.flagged_changed)
    summary = (
        reviewed.letters,
        reviewed.total,
        reviewed.flagged,
        reviewed.flagged_changed,
        share.describe(),
        reviewed.unflagged_changed,
    )
    header = ("reviewed letters", "corrections", "flagged values", "flagged values changed", "share changed",
              "unflagged values changed")  # fmt: skip
    by_field = sorted(reviewed.corrections.items(), key=lambda pair: (-pair[1], pair[0]))
    return [
        Counts("reviews", "reviews (reviews.jsonl)", header, [summary]),
        Counts("corrections_by_field", "corrections by field", ("field", "corrections"), list(by_field)),
    ]


def failed_letters(errors: Path) -> list[tuple[object, ...]]:
    """errors.jsonl counted by error type (a missing file: no failures)."""
    counts: dict[str, int] = {}
    if errors.is_file():
        for line in errors.read_text(encoding="utf-8").splitlines():
            if line.strip():
                kind = str(json.loads(line).get("error", {}).get("type", UNKNOWN))
                counts[kind] = counts.get(kind, 0) + 1
    return [(kind, -negative) for negative, kind in sorted((-n, kind) for kind, n in counts.items())]


def records_and_errors(source: Path) -> tuple[Path, Path | None]:
    """A batch's folder as its records.jsonl and errors.jsonl; a records file alone as itself."""
    if source.is_dir():
        return source / "records.jsonl", source / "errors.jsonl"
    return source, None


def report(
    source: Path, *, where: str | None = None, by: list[str] | None = None, reviews: bool = True
) -> Report:
    """The whole report for a batch's folder or a records.jsonl; ``by`` names one or two fields.
    A batch's records are counted with the corrections of reviews.jsonl applied, unless
    ``reviews`` is false (``analytics.reviews``)."""
    records, errors = records_and_errors(source)
    if not records.is_file():
        raise FileNotFoundError(records)
    lines, reviewed = reviewed_lines(records, tables.read_lines(records), apply=reviews)
    con = connect(records, where, lines)
    try:
        crossed = [dimension(con, name) for name in by or []]
        (letters,) = con.execute("SELECT count(DISTINCT letter_key) FROM base").fetchone() or (0,)
        n, k = con.execute("SELECT count(*), count(*) FILTER (WHERE overturned) FROM base").fetchone() or (
            0,
            0,
        )
        return Report(
            source=str(source),
            where=where,
            letters=int(letters),
            overall=Rate("all items", int(n), int(k)),
            decided=decided(con),
            rates=[rate_table(con, d) for d in dimensions(con).values() if d.in_report],
            kinds=item_kinds(con),
            drug_classes=drug_classes(con),
            items_per_letter=items_per_letter(con),
            citations=top_citations(con),
            quality=[*quality(con, errors), *review_quality(reviewed)],
            by=rate_table(con, crossed[0]) if len(crossed) == 1 else None,
            crosstab=crosstab(con, *crossed) if len(crossed) == 2 else None,
            reviews=reviewed,
        )
    finally:
        con.close()
