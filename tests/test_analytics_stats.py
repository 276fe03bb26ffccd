"""extractor stats on a hand-built batch whose rates are counted by hand (tests/analytics_records.py),
Wilson intervals against values worked out by hand, and an HTML report that names no URL."""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from pathlib import Path

import pytest

from extractor.analytics.charts import rate_chart
from extractor.analytics.report import CHARTS_ALWAYS
from extractor.analytics.stats import Rate, Report, StatsError, report, specialty_names, wilson
from extractor.cli import main
from extractor.schemas import Category, DrugClass, Patient
from tests.analytics_records import (
    DOLLARS,
    MACRO,
    MEDICATION,
    OVER,
    RECORDS,
    UP,
    hostile,
    item,
    record,
    write_batch,
)


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_batch(tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def made(batch: Path) -> Report:
    return report(batch)


def rates(made: Report, name: str) -> dict[str, tuple[int, int]]:
    (table,) = [t for t in made.rates if t.name == name]
    return {r.group: (r.overturned, r.n) for r in table.rates}


def test_wilson_matches_the_interval_worked_by_hand() -> None:
    z2 = 1.959963984540054**2
    # 3 of 10: centre (0.3 + z²/20) / (1 + z²/10), half-width z·sqrt(0.021 + z²/400) / (1 + z²/10)
    centre = (0.3 + z2 / 20) / (1 + z2 / 10)
    half = math.sqrt(z2 * (0.021 + z2 / 400)) / (1 + z2 / 10)
    assert wilson(3, 10) == pytest.approx((centre - half, centre + half))
    assert wilson(3, 10) == pytest.approx((0.1078, 0.6032), abs=5e-5)  # the published table's value
    assert wilson(0, 1) == pytest.approx((0.0, z2 / (1 + z2)))  # 0 of 1: [0, z²/(1+z²)] = [0, 0.7935]
    assert wilson(5, 5)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)


def test_rates_by_each_dimension_are_the_counts_by_hand(made: Report) -> None:
    assert (made.letters, made.overall.n, made.overall.overturned) == (4, 10, 3)
    assert rates(made, "category") == {
        "medication": (1, 5),
        "imaging": (1, 3),
        "surgery": (1, 1),
        "dme": (0, 1),
    }
    assert rates(made, "specialty") == {"Orthopedic Surgery": (2, 5), "Pain Management": (2, 5)}
    assert rates(made, "priority") == {"Standard": (2, 7), "Expedited": (1, 3)}
    assert rates(made, "decision_month") == {"2018-03": (2, 6), "2018-04": (1, 4)}
    assert rates(made, "age_band") == {"18-30": (1, 3), "41-50": (1, 3), "65+": (1, 2), "unknown": (0, 2)}
    assert rates(made, "sex") == {"male": (1, 3), "female": (2, 5), "unknown": (0, 2)}
    assert rates(made, "guideline_source") == {"MTUS": (3, 9), "ODG": (2, 2)}  # D's first item cites none
    assert rates(made, "guideline_chapter") == {  # LOW_BACK has no chapter
        "MTUS: Chronic Pain Medical Treatment Guidelines": (3, 9),
        "ODG: unknown": (2, 2),
    }
    assert rates(made, "reviewer_adds_guideline") == {"yes": (2, 2), "no": (1, 8)}
    (age,) = [t for t in made.rates if t.name == "age_band"]
    assert [r.group for r in age.rates] == ["18-30", "41-50", "65+", "unknown"]  # bands in order, not by size
    assert rates(made, "body_region") == {"lumbar_spine": (2, 2), "knee": (1, 2)}


def test_items_citations_and_data_quality(made: Report) -> None:
    assert made.kinds is not None
    assert made.items_per_letter is not None
    kinds = {r.group: (r.overturned, r.n) for r in made.kinds.rates}
    assert {kind: kinds[kind] for kind in ("all items", "partial authorisation", "retrospective")} == {
        "all items": (3, 10), "partial authorisation": (0, 1), "retrospective": (0, 1),
    }  # fmt: skip
    assert made.items_per_letter.rows == [(2, 2), (3, 2)]
    citations = {c.name: c.rows for c in made.citations}
    assert citations["reviewer_titles"] == [("Chronic Pain", 9, 6, 3), ("Low Back", 2, 0, 2)]
    assert citations["claims_administrator_sections"] == [("Opioids", 9, 6, 3)]
    quality = {c.name: c.rows for c in made.quality}
    assert quality["needs_review"] == [(4, 1)]
    assert quality["checks_by_status"] == [("agree", 1), ("disagree", 1), ("rules_only", 1)]
    assert ("determination.items[].category", 1, 0, 1, 0, 0, 1) in quality["checks_by_field"]
    assert quality["failed"] == [("not_imr_letter", 2)]


def test_where_and_by_go_to_duckdb(batch: Path) -> None:
    imaging = report(batch, where="category = 'imaging'", by=["sex"])
    assert (imaging.overall.overturned, imaging.overall.n) == (1, 3)
    assert imaging.by is not None
    assert {r.group: (r.overturned, r.n) for r in imaging.by.rates} == {"male": (1, 2), "female": (0, 1)}
    crossed = report(batch, by=["category", "priority"]).crosstab
    assert crossed is not None
    assert crossed.cells[("medication", "Expedited")] == Rate("medication / Expedited", 3, 1)
    assert crossed.rows[0] == "medication"
    assert ("surgery", "Expedited") not in crossed.cells
    by_column = report(batch, by=["document_id"]).by  # any column of items_wide
    assert by_column is not None
    assert {r.group for r in by_column.rates} == {"A", "B", "C", "D"}
    with pytest.raises(StatsError, match="--where"):
        report(batch, where="no_such_column = 1")
    with pytest.raises(StatsError, match="no such field"):
        report(batch, by=["no_such_field"])


def test_the_terminal_shows_rates_counts_and_intervals(
    batch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", str(batch / "records.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "30.0% (3/10, 95% CI 10.8%-60.3%)" in out
    assert "overturn rate by reviewer specialty" in out
    assert "most cited titles: reviewer" in out
    assert "letters that failed" not in out  # a records file alone has no errors.jsonl beside it
    assert main(["stats", str(batch), "--by", "category,priority"]) == 0
    assert "33.3% (1/3*)" in capsys.readouterr().out
    assert main(["stats", str(batch), "--where", "nonsense ="]) == 64
    with pytest.raises(SystemExit) as usage:
        main(["stats", str(batch), "--by", "a,b,c"])
    assert usage.value.code == 64
    assert main(["stats", str(batch / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["stats", str(batch / "errors.jsonl")]) == 2
    assert "is an errors file" in capsys.readouterr().err


def test_the_html_report_has_every_chart_and_names_no_url(batch: Path, made: Report, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["stats", str(batch), "--html", str(page), "--by", "category,sex"]) == 0
    text = page.read_text(encoding="utf-8")
    charts = set(re.findall(r'<figure id="chart-(\w+)" class="chart"><svg', text))
    drawn = {t.name for t in made.rates if t.rates}  # a table with no rows is a line, not a chart
    assert charts == drawn | {"item_kinds", *CHARTS_ALWAYS}
    for external in ("http://", "https://", "//cdn", "<script", "src=", "@import"):
        assert external not in text
    assert not re.search(r"url\((?!#)", text)  # only references to the page's own clip paths
    assert "Overturn rate by category and sex" in text
    assert "not_imr_letter" in text
    assert rate_chart(made.rates[0]) == rate_chart(made.rates[0])  # no date or random id: reruns agree


def _chart_texts(page: Path) -> set[str]:
    """The text of every <text> element of the page's charts, as a reader sees it."""
    return {html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", page.read_text("utf-8"))}


def test_the_html_report_draws_dollars_and_macros_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """matplotlib reads text between two $ as math: a request with prices in it, or a TeX macro
    in a specialty, ended in a traceback and no report."""
    batch = write_batch(tmp_path / "out", hostile())
    for by in ("request", "specialty"):
        page = tmp_path / f"by-{by}.html"
        assert main(["stats", str(batch), "--html", str(page), "--by", by]) == 0
        assert "Traceback" not in capsys.readouterr().err
        texts = _chart_texts(page)
        assert DOLLARS in texts if by == "request" else MACRO in texts


@pytest.mark.parametrize("name", ["out[1]", "out?", "out*"])
def test_a_records_path_is_read_as_named_never_as_a_glob(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``out[1]/records.jsonl`` read ``out1/records.jsonl`` (another batch's numbers, exit 0)."""
    write_batch(tmp_path / "out1", RECORDS[:1])  # what the name matches as a pattern: 1 letter
    batch = write_batch(tmp_path / name)  # the batch named: 4 letters
    for source in (batch, batch / "records.jsonl"):
        assert main(["stats", str(source)]) == 0
        assert "overturned: 30.0% (3/10," in capsys.readouterr().out  # the decoy's: 33.3% (1/3)


@pytest.mark.parametrize(
    "where",
    [
        "1=1; COPY (SELECT 1) TO '{target}' (FORMAT csv)",
        "true UNION SELECT 1",
        "(SELECT count(*) FROM read_text('{readable}')) >= 0",
    ],
)
def test_a_where_filter_can_neither_write_nor_read_a_file(
    where: str, batch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--where was pasted into SQL, so a second statement ran: the COPY wrote a file."""
    target, readable = tmp_path / "written.csv", batch / "errors.jsonl"
    assert main(["stats", str(batch), "--where", where.format(target=target, readable=readable)]) == 64
    err = capsys.readouterr().err
    assert err.startswith("extractor stats: error: --where ")
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_by_year_quarter_and_month_of_the_decision(batch: Path) -> None:
    def by(name: str) -> dict[str, tuple[int, int]]:
        table = report(batch, by=[name]).by
        assert table is not None
        return {r.group: (r.overturned, r.n) for r in table.rates}

    assert by("year") == {"2018": (3, 10)}
    assert by("quarter") == {"2018-Q1": (2, 6), "2018-Q2": (1, 4)}
    assert by("month") == by("decision_month") == {"2018-03": (2, 6), "2018-04": (1, 4)}


def test_json_and_csv_for_scripts(batch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(batch), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["letters"], answer["overall"]["overturned"], answer["overall"]["items"]) == (4, 3, 10)
    assert answer["decided"] == {"first": "2018-03-05", "last": "2018-04-30"}
    assert {t["name"] for t in answer["rates"]} >= {"category", "decision_year"}
    assert main(["stats", str(batch), "--csv", "--by", "category"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {(r["table"], r["group"], r["overturned"], r["items"]) for r in rows} == {
        ("category", "medication", "1", "5"), ("category", "imaging", "1", "3"),
        ("category", "surgery", "1", "1"), ("category", "dme", "0", "1"),
    }  # fmt: skip
    assert main(["stats", str(batch), "--csv", "--by", "guideline_chapter"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {(r["group"], r["overturned"], r["items"]) for r in rows} == {
        ("MTUS: Chronic Pain Medical Treatment Guidelines", "3", "9"), ("ODG: unknown", "2", "2"),
    }  # fmt: skip


def test_a_rate_of_no_items_is_na_and_an_empty_table_one_line(
    batch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0/0 showed as "0.0% (95% CI 0.0-100.0%)" and empty tables were drawn as empty frames."""
    assert Rate("none", 0, 0).describe() == "n/a (no items)"
    assert main(["stats", str(batch), "--where", "category = 'acupuncture'"]) == 0
    out = capsys.readouterr().out
    assert "overturned: n/a (no items)" in out
    assert "0.0%-100.0%" not in out
    assert "overturn rate by category: no items" in out
    assert "most cited titles: reviewer: none" in out
    assert main(["stats", str(batch), "--where", "category = 'acupuncture'", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["rate"] is None
    assert main(["stats", str(batch), "--where", "category = 'acupuncture'", "--csv"]) == 0
    overall = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (overall["table"], overall["rate"], overall["ci_low"]) == ("overall", "", "")


def test_specialty_names_are_one_group_by_the_reviewable_mapping(tmp_path: Path) -> None:
    copies = [r.model_copy(deep=True) for r in RECORDS]
    copies[2].determination.reviewer.specialties = ["orthopaedic  surgery", "Pain Medicine"]
    made = report(write_batch(tmp_path / "out", copies))
    assert rates(made, "specialty") == {"Orthopedic Surgery": (2, 5), "Pain Management": (2, 5)}
    assert specialty_names()["family practice"] == "Family Medicine"


def test_the_report_is_titled_by_what_it_covers_with_honest_axes(batch: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["stats", str(batch), "--html", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    title = "4 letters decided 2018-03-05 to 2018-04-30, 10 disputed items"
    assert f"<h1>IMR outcomes: {title}</h1>" in text
    assert f"<title>IMR outcomes: {title}</title>" in text
    texts = _chart_texts(page)
    overall = "% overturned, 95% Wilson interval; dashed: all items, 30.0% (pale: fewer than 10 items)"
    assert overall in texts  # the overall rate, drawn as a line on each rate chart
    counts = text[text.index('id="chart-items_per_letter"') :]
    counts = counts[: counts.index("</figure>")]
    ticks = re.findall(r"<text[^>]*>([^<]*)</text>", counts)
    assert "letters" in ticks  # the axis says what it counts
    assert not any(re.fullmatch(r"\d*\.\d+", tick) for tick in ticks)  # whole numbers, no 0-1 axis


def test_pharmaceutical_requests_by_drug_class_beside_the_published_shares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    opioid = {"drugs": ["tramadol"], "drug_class": DrugClass.OPIOID}
    topical = {"drugs": ["lidocaine"], "drug_class": DrugClass.TOPICAL_ANALGESIC}
    items = [
        item(MEDICATION, OVER, **opioid),
        item(MEDICATION, UP, **opioid),
        item(MEDICATION, UP, **topical),
    ]
    letter = record("E", Patient(), [], "Standard", "2018-05-01", [*items, item(Category.IMAGING, UP)])
    batch = write_batch(tmp_path / "out", [letter])
    made = report(batch)
    assert rates(made, "drug_class") == {"opioid": (1, 2), "topical_analgesic": (0, 1)}  # medication only
    assert made.drug_classes is not None
    assert made.drug_classes.rows == [
        ("opioid", 2, "66.7%", "23.9%"),
        ("topical_analgesic", 1, "33.3%", "17.4%"),
    ]
    assert main(["stats", str(batch), "--by", "drug_class"]) == 0
    shown = capsys.readouterr().out
    assert "DWC IMR report 2024" in shown
    assert "23.9%" in shown
