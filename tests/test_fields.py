"""The registry of fields: one path type, and facts that agree with the schema and the passes."""

from __future__ import annotations

from typing import Any

import pytest

from extractor.fields import (
    BY_NAME,
    ITEMS,
    KEY_FIELDS,
    NOT_KEY,
    SECTIONS,
    FieldPath,
    PathError,
    field_name,
    not_read_by,
    path,
    schema_names,
)
from extractor.llm.drafts import HeaderDraft, ItemDraft, PatientDraft
from extractor.pipeline import BACKENDS
from extractor.schemas import Determination, Item


@pytest.mark.parametrize(
    ("text", "steps", "name"),
    [
        ("determination", (), "determination"),
        ("determination.items", ("items",), "items"),
        ("determination.case.case_number", ("case", "case_number"), "case.case_number"),
        ("determination.items[2].decision", ("items", 2, "decision"), "items[].decision"),
        ("determination.reviewer.specialties[0]", ("reviewer", "specialties", 0), "reviewer.specialties[]"),
        (
            "determination.items[10].reviewer_guidelines[1].title",
            ("items", 10, "reviewer_guidelines", 1, "title"),
            "items[].reviewer_guidelines[].title",
        ),
    ],
)
def test_a_path_reads_and_writes_the_strings_records_carry(text: str, steps: tuple, name: str) -> None:
    where = FieldPath.parse(text)
    assert where.steps == steps
    assert str(where) == text == path(*steps)
    assert where.name == field_name(text) == name


@pytest.mark.parametrize(
    "bad",
    ["", "evidence.x", "determination.", "determination[0]", "determination.items[x]", "determination..case",
     ".determination.case", "determination.case.", "Determination.case", "determination.items[-1]"],
)  # fmt: skip
def test_anything_else_is_no_path(bad: str) -> None:
    with pytest.raises(PathError):
        FieldPath.parse(bad)


def test_an_items_paths_follow_an_item_added_or_removed() -> None:
    where = FieldPath.parse("determination.items[3].claims_administrator_guidelines[0].pages")
    assert (where.section, where.item, where.relative) == (
        "items", 3, "items[3].claims_administrator_guidelines[0].pages"
    )  # fmt: skip
    assert str(where.shifted(3, +1)) == "determination.items[4].claims_administrator_guidelines[0].pages"
    assert str(where.shifted(1, -1)) == "determination.items[2].claims_administrator_guidelines[0].pages"
    assert where.shifted(3, -1) is None  # in the item removed
    assert where.shifted(4, -1) == where.shifted(4, +1) == where  # before the item: stays
    case = FieldPath.of("case", "decision_date")
    assert (case.item, case.shifted(0, -1)) == (None, case)
    assert FieldPath.of(ITEMS).item is None


def test_under_is_the_value_or_an_element_of_it() -> None:
    specialties = FieldPath.of("reviewer", "specialties")
    assert FieldPath.of("reviewer", "specialties", 0).under(specialties)
    assert specialties.under(specialties)
    assert not FieldPath.of("reviewer", "subspecialties").under(specialties)
    assert not FieldPath.of("reviewer").under(specialties)


def test_parent_in_finds_a_place_in_a_determinations_json() -> None:
    data = Determination(items=[Item(request="x", decision="Upheld")]).model_dump(mode="json")
    where = FieldPath.of(ITEMS, 0, "decision")
    assert where.parent_in(data)[where.last] == "Upheld"
    with pytest.raises(IndexError):
        FieldPath.of(ITEMS, 1, "decision").parent_in(data)


def test_the_registry_is_every_field_of_the_schema_in_its_order() -> None:
    assert [key.name for key in KEY_FIELDS] == [name for name in schema_names() if name not in NOT_KEY]
    assert set(BY_NAME) == {key.name for key in KEY_FIELDS}
    for key in KEY_FIELDS:
        if key.section:
            assert key.info is not None  # the schema declares it
        if key.fill != "never":
            assert key.agree is not None, (
                f"{key.name}: a value the passes are not compared on is never filled"
            )


def _asked(draft: Any) -> set[str]:
    """The names the model is asked for: the properties of the response model's JSON Schema."""
    schema = draft.model_json_schema()
    return set(schema["properties"])


def test_the_llm_is_asked_for_what_the_registry_says() -> None:
    header = HeaderDraft.model_json_schema()
    case = header["$defs"][header["properties"]["case"]["$ref"].rsplit("/", 1)[-1]]["properties"]
    reviewer = header["$defs"][header["properties"]["reviewer"]["$ref"].rsplit("/", 1)[-1]]["properties"]
    asked = {
        "case": set(case),
        "reviewer": set(reviewer),
        "patient": _asked(PatientDraft),
        ITEMS: _asked(ItemDraft),
    }
    for key in KEY_FIELDS:
        if key.section in (*SECTIONS, ITEMS):
            assert (key.key in asked[key.section]) is key.asked, key.name
            assert key.asked <= ("llm" in key.read_by), key.name


def test_what_a_backend_never_reads() -> None:
    assert not_read_by(BACKENDS["rules"].reads) == not_read_by(BACKENDS["hybrid"].reads) == frozenset()
    assert not_read_by(BACKENDS["llm"].reads) == {
        "items[].depends_on",
        "items[].date_of_service",
        "items[].rationale",
    }
