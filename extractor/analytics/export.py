"""The tables written out: one DuckDB file, or a folder of Parquet or CSV files (one per table).

Every file is written under a temporary name and moved into place, so an interrupted export
leaves the previous file, never half of one. A target is replaced only when it is missing or a
regular file, as by every writer of the project (``jobs.ledger.replaceable``): a symlink is
written through, a device, FIFO, socket or folder is refused. In CSV, lists are joined with
"; " as in items.csv, and every text cell goes through items.csv's ``spreadsheet_safe``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from extractor.analytics import tables
from extractor.export import spreadsheet_safe
from extractor.jobs.ledger import replaceable

if TYPE_CHECKING:
    import duckdb

Format = Literal["duckdb", "parquet", "csv"]

_SAFE = "spreadsheet_safe"
"""items.csv's neutraliser, registered in DuckDB under this name for the CSV tables."""


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _csv_cell(column: str, kind: str) -> str:
    """One column as CSV text: a list joined by "; ", text (lists and JSON too) neutralised;
    numbers, booleans and dates are left as DuckDB writes them, so -5 stays a number."""
    if kind.endswith("[]"):
        return f'{_SAFE}(array_to_string("{column}", \'; \')) AS "{column}"'
    if kind in ("VARCHAR", "JSON"):
        return f'{_SAFE}(CAST("{column}" AS VARCHAR)) AS "{column}"'
    return f'"{column}"'


def _csv_select(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """SELECT for one table as CSV cells (``_csv_cell``)."""
    columns = [_csv_cell(column, kind) for column, kind, *_ in con.execute(f"DESCRIBE {name}").fetchall()]
    return f"SELECT {', '.join(columns)} FROM {name}"


def export(records: Path, to: Format, target: Path, lines: list[str] | None = None) -> dict[str, int]:
    """Write the tables of ``records`` (or of ``lines`` read from it) as ``to`` at ``target`` (a
    file for duckdb, else a folder); returns each table's row count. Raises UnsafeTarget, before
    writing anything, for a target that replacing would destroy."""
    import duckdb

    if to == "duckdb":
        path = replaceable(target)
        temporary = _temporary(path)
        temporary.unlink(missing_ok=True)
        try:
            with duckdb.connect(str(temporary)) as con:
                tables.load(con, records, lines)
                counts = _counts(con)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return counts
    with duckdb.connect() as con:
        tables.load(con, records, lines)
        con.create_function(_SAFE, spreadsheet_safe, ["VARCHAR"], "VARCHAR")
        names = [*tables.table_names(con), tables.WIDE]
        target.mkdir(parents=True, exist_ok=True)
        paths = {name: replaceable(target / f"{name}.{to}") for name in names}
        for name, path in paths.items():
            select = _csv_select(con, name) if to == "csv" else f"SELECT * FROM {name}"
            options = "FORMAT csv, HEADER" if to == "csv" else "FORMAT parquet"
            con.execute(f"COPY ({select}) TO {_quoted(_temporary(path))} ({options})")
            os.replace(_temporary(path), path)
        return _counts(con)


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts = {}
    for name in tables.table_names(con):
        (rows,) = con.execute(f'SELECT count(*) FROM "{name}"').fetchone() or (0,)
        counts[name] = int(rows)
    return counts
