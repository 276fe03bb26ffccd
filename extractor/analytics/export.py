"""The tables written out: one DuckDB file, or a folder of Parquet or CSV files (one per table).

Every file is written under a temporary name and moved into place, so an interrupted export
leaves the previous file, never half of one. In CSV, lists are joined with "; " as in items.csv.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from extractor.analytics import tables

if TYPE_CHECKING:
    import duckdb

Format = Literal["duckdb", "parquet", "csv"]


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _csv_select(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """SELECT for one table with every list column joined by "; "."""
    columns = [
        f'array_to_string("{column}", \'; \') AS "{column}"' if kind.endswith("[]") else f'"{column}"'
        for column, kind, *_ in con.execute(f"DESCRIBE {name}").fetchall()
    ]
    return f"SELECT {', '.join(columns)} FROM {name}"


def export(records: Path, to: Format, target: Path) -> dict[str, int]:
    """Write the tables of ``records`` as ``to`` at ``target`` (a file for duckdb, else a folder);
    returns each table's row count."""
    import duckdb

    if to == "duckdb":
        temporary = _temporary(target)
        temporary.unlink(missing_ok=True)
        try:
            with duckdb.connect(str(temporary)) as con:
                tables.load(con, records)
                counts = _counts(con)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return counts
    with duckdb.connect() as con:
        tables.load(con, records)
        target.mkdir(parents=True, exist_ok=True)
        for name in [*tables.table_names(con), tables.WIDE]:
            path = target / f"{name}.{to}"
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
