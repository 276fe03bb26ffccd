"""A records.jsonl as normalised DuckDB tables whose columns are named from the schema.

DuckDB parses the JSON lines itself with column types derived from the pydantic models, which
is some ten times faster than validating each record in Python; the models stay the single
source of truth for names; Python reads the file and hands DuckDB its lines (``read_lines``).
Tables (documented in the README):

- ``letters``: one row per record, the document, case, reviewer, patient and provenance fields;
- ``items``: one row per disputed item, every scalar or list-of-scalar item field;
- ``guidelines``: one row per citation, ``side`` naming the item's list it came from;
- ``diagnoses``: one row per diagnosis, with its ICD-10-CM ``code``, three-character
  ``category``, and the code set's ``chapter`` and ``title`` for it (null when uncoded);
- ``checks``: one row per cross-check;
- one table per other list of models: an item's named after its field (``body_regions``), the
  patient's with ``patient_`` before it (``patient_body_regions``);
- the view ``items_wide``: ``letters`` joined to ``items``.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import types
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from extractor import icd
from extractor.schemas import Case, Check, Document, Item, Patient, Provenance, Record, Reviewer

if TYPE_CHECKING:
    import duckdb

GUIDELINE_SUFFIX = "_guidelines"
"""Item fields ending so are citation lists; the rest of the name is the ``side``."""

TABLES = ("letters", "items", "guidelines", "diagnoses", "checks")
WIDE = "items_wide"

_SCALARS: dict[type, str] = {bool: "BOOLEAN", int: "BIGINT", float: "DOUBLE", str: "VARCHAR", dt.date: "DATE"}


def _unwrap(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` as X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            (annotation,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _item_model(annotation: Any) -> Any:
    """The element type of a ``list[X]`` field, else None."""
    annotation = _unwrap(annotation)
    return _unwrap(typing.get_args(annotation)[0]) if typing.get_origin(annotation) is list else None


def duckdb_type(annotation: Any) -> str:
    """The DuckDB type that holds a field's JSON value (Any, dicts and tuples stay JSON)."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is list:
        return f"{duckdb_type(typing.get_args(annotation)[0])}[]"
    if typing.get_origin(annotation) is typing.Literal:
        return "VARCHAR"
    if _is_model(annotation):
        fields = ", ".join(
            f'"{name}" {duckdb_type(f.annotation)}' for name, f in annotation.model_fields.items()
        )
        return f"STRUCT({fields})"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "VARCHAR"
    return _SCALARS.get(annotation, "JSON")


def record_columns() -> dict[str, str]:
    """The record's top-level fields as read_json's ``columns`` (evidence is not needed here)."""
    return {name: duckdb_type(f.annotation) for name, f in Record.model_fields.items() if name != "evidence"}


def flat_columns(model: type[BaseModel], path: str, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(SQL expression, column name) for every scalar or list-of-scalar field of ``model``,
    nested models flattened into their fields; lists of models are tables of their own."""
    for name, info in model.model_fields.items():
        annotation = _unwrap(info.annotation)
        if _is_model(annotation):
            yield from flat_columns(annotation, f"{path}.{name}", prefix)
        elif not _is_model(_item_model(annotation)):
            yield f'{path}."{name}"', f"{prefix}{name}"


def _select(columns: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f'{expression} AS "{name}"' for expression, name in columns)


def _letters_sql() -> str:
    parts = [
        *flat_columns(Document, "document", "document_"),
        *flat_columns(Case, "determination.case"),
        *flat_columns(Reviewer, "determination.reviewer"),
        *flat_columns(Patient, "determination.patient"),
        ("needs_review", "needs_review"),
        *flat_columns(Provenance, "provenance"),
    ]
    return f"SELECT letter_key, {_select(parts)} FROM records ORDER BY letter_key"


def model_lists(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The fields of ``model`` that are lists of models (an item's citation lists and others)."""
    return {
        name: element
        for name, f in model.model_fields.items()
        if _is_model(element := _item_model(f.annotation))
    }


def item_lists() -> dict[str, type[BaseModel]]:
    return model_lists(Item)


def _citation_sides() -> dict[str, str]:
    return {
        name.removesuffix(GUIDELINE_SUFFIX): name for name in item_lists() if name.endswith(GUIDELINE_SUFFIX)
    }


def _exploded(keys: str, values: str, alias: str, source: str, position: str = "position") -> str:
    """One row per element of the list ``values`` of each row of ``source``, with its 0-based
    ``position`` (DuckDB unnests lists of one row side by side)."""
    positions = f"unnest(range(len({values}))) AS {position}"
    return f"SELECT {keys}, {positions}, unnest({values}) AS {alias} FROM {source}"


def _child_sql(field: str, extra: str = "") -> str:
    return _exploded(f"item_key{extra}", f'item."{field}"', "element", "raw_items")


def _guidelines_sql() -> str:
    sides = _citation_sides()
    model = item_lists()[next(iter(sides.values()))]
    union = " UNION ALL ".join(_child_sql(field, f", '{side}' AS side") for side, field in sides.items())
    return (
        f"SELECT item_key, side, position, {_select(flat_columns(model, 'element'))} "
        f"FROM ({union}) ORDER BY item_key, side, position"
    )


def child_tables() -> dict[str, str]:
    """Other lists of models as table name -> SQL: an item's named after the field
    (``body_regions``), the patient's after the field with ``patient_`` before it."""
    found = {
        field: f"SELECT item_key, position, {_select(flat_columns(model, 'element'))} "
        f"FROM ({_child_sql(field)}) ORDER BY item_key, position"
        for field, model in item_lists().items()
        if not field.endswith(GUIDELINE_SUFFIX)
    }
    for field, model in model_lists(Patient).items():
        rows = _exploded("letter_key", f'determination.patient."{field}"', "element", "records")
        found[f"patient_{field}"] = (
            f"SELECT letter_key, position, {_select(flat_columns(model, 'element'))} "
            f"FROM ({rows}) ORDER BY letter_key, position"
        )
    return found


_READ = (
    "CREATE TEMP TABLE records AS SELECT row_number() OVER (ORDER BY document.path, document.sha256) "
    "AS letter_key, * FROM (SELECT unnest(json_transform(line, $columns)) "
    "FROM (SELECT unnest($lines::VARCHAR[]) AS line))"
)
"""The records from their lines, typed by ``record_columns``: a key a line lacks is NULL (an
older record has no newer field), and so is a value of another type, which only a file not
written by the schema holds; a line that is not JSON fails."""


def _statements() -> Iterator[str]:
    """What builds the tables from the temporary table ``records`` (made by ``_READ``)."""
    yield f"CREATE TABLE letters AS {_letters_sql()}"
    items = _exploded("letter_key", "determination.items", "item", "records", position="item_index")
    yield (
        "CREATE TEMP TABLE raw_items AS SELECT row_number() OVER (ORDER BY letter_key, item_index) "
        f"AS item_key, * FROM ({items})"
    )
    yield (
        "CREATE TABLE items AS SELECT item_key, letter_key, item_index, "
        f"{_select(flat_columns(Item, 'item'))} FROM raw_items ORDER BY item_key"
    )
    yield f"CREATE TABLE guidelines AS {_guidelines_sql()}"
    diagnoses = _exploded("letter_key", "determination.patient.diagnoses", "diagnosis", "records")
    codes = "unnest(determination.patient.diagnosis_codes) AS code"
    yield (
        "CREATE TABLE diagnoses AS SELECT letter_key, position, diagnosis, code, "
        "left(code, 3) AS category, chapter, title "
        f"FROM ({diagnoses.replace(' FROM records', f', {codes} FROM records')}) "
        "LEFT JOIN icd_titles USING (code) ORDER BY letter_key, position"
    )
    check_columns = _select(
        (f"CAST({e} AS VARCHAR)" if duckdb_type(Check.model_fields[n].annotation) == "JSON" else e, n)
        for e, n in flat_columns(Check, "c")
    )
    checks = _exploded("letter_key", "checks", "c", "records")
    yield (
        f"CREATE TABLE checks AS SELECT letter_key, position, {check_columns} "
        f"FROM ({checks}) ORDER BY letter_key, position"
    )
    for name, sql in child_tables().items():
        yield f'CREATE TABLE "{name}" AS {sql}'
    yield f"CREATE VIEW {WIDE} AS SELECT * FROM letters JOIN items USING (letter_key) ORDER BY item_key"
    yield "DROP TABLE raw_items"
    yield "DROP TABLE records"
    yield "DROP TABLE icd_titles"


class NotRecords(ValueError):
    """The file has a line that is not a record (not JSON, or without a document or determination)."""


def load(con: duckdb.DuckDBPyConnection, records: Path, lines: list[str] | None = None) -> None:
    """Create the tables and the view in ``con`` from the records.jsonl at ``records``, or from
    ``lines`` read from it (as reviewed: ``analytics.reviews``)."""
    import duckdb

    if lines is None:
        lines = read_lines(records)
    try:
        con.execute(_READ, {"columns": json.dumps(record_columns()), "lines": lines})
    except (duckdb.InvalidInputException, duckdb.ConversionException, UnicodeDecodeError) as error:
        raise NotRecords(str(records)) from error
    missing = con.execute("SELECT count(*) FROM records WHERE document IS NULL OR determination IS NULL")
    if (missing.fetchone() or (0,))[0]:
        raise NotRecords(str(records))
    _code_titles(con)
    for statement in _statements():
        con.execute(statement)


def _code_titles(con: duckdb.DuckDBPyConnection) -> None:
    """The temporary table ``icd_titles``: chapter and title of each valid code the records hold,
    from the code set (a code it does not hold gets neither)."""
    found = con.execute("SELECT DISTINCT unnest(determination.patient.diagnosis_codes) FROM records")
    rows = [
        (code, icd.chapter(code), icd.title(code))
        for (code,) in found.fetchall()
        if code and icd.is_valid(code)
    ]
    con.execute("CREATE TEMP TABLE icd_titles (code VARCHAR, chapter VARCHAR, title VARCHAR)")
    if rows:
        con.executemany("INSERT INTO icd_titles VALUES (?, ?, ?)", rows)


def read_lines(records: Path) -> list[str]:
    """The file's non-blank lines, read here rather than by DuckDB, whose readers take a path as
    a glob (``out[1]/records.jsonl`` would read ``out1/records.jsonl``) and expand ``~``: this
    way the file read is the one named, whatever its name holds. Split on newlines alone, since
    a JSON string may hold U+2028."""
    return [line for line in records.read_text(encoding="utf-8").split("\n") if line.strip()]


def table_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables ``load`` made, in a stable order (the schema's own first)."""
    found = {
        row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()
    }
    return [*TABLES, *sorted(found - set(TABLES))]
