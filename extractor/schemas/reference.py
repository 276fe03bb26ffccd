"""The record's reference page (docs/record.md), rendered from the models so it cannot drift.

Each field's text is its ``Field(description=...)`` or else the docstring under it.  The fields
the LLM pass's response models inherit carry docstrings: a description there would go into the
JSON Schema sent to the model, change ``prompt_version`` and void every recorded cassette.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import itertools
import json
import textwrap
import types
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from extractor.schemas.record import Record

INTRO = """\
# The record

<!-- Generated from extractor/schemas/record.py by `extractor schema --markdown > docs/record.md`;
edit the models, not this page (tests/test_record_page.py compares them). -->

One letter gives one record: the object `extract()` returns, `extractor extract` prints and each
line of a batch's `records.jsonl` holds (`Record.model_dump(mode="json")`). Its JSON Schema is
[schemas/record.schema.json](../schemas/record.schema.json) (`extractor schema`). The names and
value forms the project's record contract (`shared/CONTRACT.md`) fixes are kept; fields may be
added, never renamed or reshaped.

A value's path, as `evidence`, `confidence` and `checks[].field` name it, is its place in the
record: `determination.items[0].decision`, `determination.patient.diagnoses`.
"""


def page() -> str:
    """docs/record.md: every model reachable from :class:`Record`, then every enumeration."""
    models, enums = _reachable(Record)
    parts = [INTRO, *(_model_section(model) for model in models), *(_enum_section(e) for e in enums)]
    return "\n".join(parts)


def _reachable(root: type[BaseModel]) -> tuple[list[type[BaseModel]], list[type[StrEnum]]]:
    """The models and enumerations the record holds, in the order a reader meets them (depth first)."""
    models: list[type[BaseModel]] = []
    enums: list[type[StrEnum]] = []

    def visit(model: type[BaseModel]) -> None:
        models.append(model)
        for info in model.model_fields.values():
            for part in _parts(info.annotation):
                if isinstance(part, type) and issubclass(part, BaseModel) and part not in models:
                    visit(part)
                elif isinstance(part, type) and issubclass(part, StrEnum) and part not in enums:
                    enums.append(part)

    visit(root)
    return models, enums


def _parts(annotation: Any) -> Iterator[Any]:
    """Every type an annotation names, itself included."""
    yield annotation
    for arg in get_args(annotation):
        yield from _parts(arg)


def _model_section(model: type[BaseModel]) -> str:
    notes = _attribute_docstrings(model)
    rows = [
        f"| `{name}` | {_type(info.annotation)}{_bounds(info)} | {_default(info)} | "
        f"{_cell(info.description or notes.get(name) or _linked_doc(info.annotation))} |"
        for name, info in model.model_fields.items()
    ]
    head = ["| field | type | default | what it holds |", "| --- | --- | --- | --- |"]
    return "\n".join([f"## {model.__name__}", "", _doc(model), "", *head, *rows, ""])


def _enum_section(enum: type[StrEnum]) -> str:
    notes = _attribute_docstrings(enum)
    if not notes:
        values = ", ".join(f"`{member.value}`" for member in enum)
        return "\n".join([f"## {enum.__name__}", "", _doc(enum), "", f"One of {values}.", ""])
    rows = [f"| `{member.value}` | {_cell(notes.get(member.name, ''))} |" for member in enum]
    head = ["| value | what it covers |", "| --- | --- |"]
    return "\n".join([f"## {enum.__name__}", "", _doc(enum), "", *head, *rows, ""])


def _doc(cls: type) -> str:
    return " ".join(inspect.cleandoc(cls.__doc__ or "").split()).replace("``", "`")


def _linked_doc(annotation: Any) -> str:
    """A model-valued field with no text of its own is described by its model's docstring."""
    return _doc(annotation) if isinstance(annotation, type) and issubclass(annotation, BaseModel) else ""


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """The docstrings written under a class's fields or members (in its own body, not inherited)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    notes = {}
    for field, after in itertools.pairwise(body):
        target = field.target if isinstance(field, ast.AnnAssign) else getattr(field, "targets", [None])[0]
        if (
            isinstance(target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            notes[target.id] = " ".join(after.value.value.split())
    return notes


_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _type(annotation: Any) -> str:
    """A field's type as JSON gives it, an enumeration or model linked to its section."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return " \\| ".join(_type(arg) for arg in args)
    if origin is Annotated:
        return _type(args[0]) + "".join(_bound(meta) for meta in annotation.__metadata__)
    if origin is Literal:
        return " \\| ".join(f'`"{arg}"`' for arg in args)
    if origin is list:
        inner = _type(args[0])
        return f"list of ({inner})" if "\\|" in inner else f"list of {inner}"
    if origin is tuple:
        return "[" + ", ".join(_type(arg) for arg in args) + "]"
    if origin is dict:
        return f"object: {_type(args[0])} to {_type(args[1])}"
    if annotation is dt.date:
        return "date (`YYYY-MM-DD`)"
    if isinstance(annotation, type) and issubclass(annotation, (BaseModel, StrEnum)):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if annotation is Any:
        return "any JSON value"
    return _NAMES[annotation]


def _bound(meta: Any) -> str:
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    for name, sign in signs.items():
        if isinstance(meta, getattr(annotated_types, name.capitalize())):
            return f" {sign} {getattr(meta, name)}"
    return ""


def _bounds(info: FieldInfo) -> str:
    bounds = [_bound(meta).strip() for meta in info.metadata if _bound(meta)]
    return f" ({', '.join(bounds)})" if bounds else ""


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        made = info.default_factory()  # type: ignore[call-arg]
        return "all defaults" if isinstance(made, BaseModel) else f"`{json.dumps(made)}`"
    if info.default is PydanticUndefined:
        return "required"
    value = info.default.value if isinstance(info.default, StrEnum) else info.default
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
