"""Chart choice by the result's shape, every spec valid Vega-Lite, rendered offline to SVG and PNG.

The schema is the one the npm package vega-lite ships (build/vega-lite-schema.json), installed by
scripts/setup.sh for the web UI: the charts are checked against the very Vega-Lite the browser runs.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from askspark.errors import UsageError
from askspark.record import ColumnInfo, ResultPreview
from askspark.results.chart import TOP_N, ChartError, check_spec, choose_chart, key, render_chart

WEB = Path(__file__).parent.parent / "src" / "askspark" / "interfaces" / "web"
SCHEMA = WEB / "node_modules" / "vega-lite" / "build" / "vega-lite-schema.json"
HOSTILE = '<img src=x onerror=alert(1)> "a.b[0]" \\ {{x}}'


def preview(columns: list[tuple[str, str]], rows: list[list[Any]], truncated: bool = False) -> ResultPreview:
    return ResultPreview(
        columns=[ColumnInfo(name=n, type=t) for n, t in columns], rows=rows, truncated=truncated
    )


DAYS = [dt.date(2024, 1, d) for d in range(1, 8)]
SHAPES: dict[str, tuple[ResultPreview, str | None]] = {
    "empty": (preview([("a", "string"), ("n", "bigint")], []), None),
    "one value": (preview([("total", "double")], [[12.5]]), None),
    "one record of measures": (preview([("a", "bigint"), ("b", "double")], [[1, 2.0]]), None),
    "category and measure": (
        preview(
            [("country", "string"), ("revenue", "decimal(12,2)")],
            [["DE", Decimal("10.5")], ["FR", Decimal("7")]],
        ),
        "bar",
    ),
    "one category row": (preview([("country", "string"), ("revenue", "double")], [["DE", 3.0]]), None),
    "shares": (preview([("segment", "string"), ("share", "double")], [["a", 0.25], ["b", 0.75]]), "bar"),
    "date and measure": (
        preview([("day", "date"), ("sales", "bigint")], [[d, i] for i, d in enumerate(DAYS)]),
        "line",
    ),
    "timestamp and two measures": (
        preview(
            [("ts", "timestamp"), ("lo", "double"), ("hi", "double")],
            [[dt.datetime(2024, 1, 1, h), h, h * 2.0] for h in range(5)],
        ),
        "line",
    ),
    "year and measure": (
        preview([("year", "int"), ("orders", "bigint")], [[2020 + i, i] for i in range(4)]),
        "line",
    ),
    "date, category, measure": (
        preview(
            [("day", "date"), ("symbol", "string"), ("close", "double")],
            [[d, s, 1.0] for d in DAYS for s in "AB"],
        ),
        "line",
    ),
    "two measures": (preview([("price", "double"), ("rating", "double")], [[1.0, 2.0], [3.0, 4.0]]), "point"),
    "label and two measures": (
        preview([("name", "string"), ("price", "double"), ("qty", "bigint")], [["a", 1.0, 2], ["b", 3.0, 4]]),
        "point",
    ),
    "two categories and a measure": (
        preview(
            [("country", "string"), ("year_label", "string"), ("n", "bigint")],
            [["DE", "x", 1], ["DE", "y", 2]],
        ),
        "bar",
    ),
    "category and three measures": (
        preview(
            [("c", "string"), ("a", "bigint"), ("b", "bigint"), ("d", "double")],
            [["x", 1, 2, 3.0], ["y", 4, 5, 6.0]],
        ),
        "bar",
    ),
    "text only": (preview([("name", "string"), ("note", "string")], [["a", "b"], ["c", "d"]]), None),
    "one measure, many rows": (preview([("amount", "double")], [[1.0], [2.0]]), None),
    "too many series": (
        preview(
            [("day", "date"), ("k", "string"), ("v", "double")], [[DAYS[0], f"k{i}", 1.0] for i in range(30)]
        ),
        None,
    ),
}


@cache
def validator() -> Any:
    """One validator for the large schema (building it is the slow part)."""
    import jsonschema

    if not SCHEMA.exists():
        pytest.fail(
            "the web UI's npm packages are not installed: bash scripts/setup.sh (npm ci in interfaces/web)"
        )
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def validate(spec: dict[str, Any]) -> None:
    validator().validate(spec)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_chart_choice_by_shape(shape: str) -> None:
    result, mark = SHAPES[shape]
    spec = choose_chart(result)
    assert (spec["mark"]["type"] if spec else None) == mark
    if spec is not None:
        validate(spec)
        assert spec["data"]["values"], "the chart holds the preview's rows"


def test_bar_is_sorted_top_n_and_notes_the_rest() -> None:
    rows = [[f"c{i}", float(i)] for i in range(TOP_N + 15)]
    spec = choose_chart(preview([("name", "string"), ("n", "double")], rows, truncated=True))
    assert spec is not None
    values = [v["c1"] for v in spec["data"]["values"]]
    assert values == sorted(values, reverse=True) and len(values) == TOP_N and values[0] == TOP_N + 14
    assert spec["encoding"]["y"]["sort"] == "-x"
    assert f"top {TOP_N} of {TOP_N + 15}+ rows shown; 15 more not drawn" in spec["title"]["text"]
    validate(spec)


def test_hostile_names_and_values_are_data_and_titles_only() -> None:
    result = preview([(HOSTILE, "string"), (HOSTILE + "2", "double")], [[HOSTILE, 1.0], ["x", float("nan")]])
    spec = choose_chart(result)
    assert spec is not None
    validate(spec)
    assert spec["encoding"]["y"]["field"] == key(0) and spec["encoding"]["y"]["title"] == HOSTILE
    assert {spec["data"]["values"][0]["c0"], spec["data"]["values"][1]["c0"]} == {HOSTILE, "x"}
    assert None in [v["c1"] for v in spec["data"]["values"]]  # NaN is no JSON: null
    assert "transform" not in spec and "expr" not in json.dumps(spec)  # no name ever reaches an expression


def test_measures_in_long_form_are_named_by_their_columns() -> None:
    result, _ = SHAPES["timestamp and two measures"]
    spec = choose_chart(result)
    assert spec is not None
    assert {v["measure"] for v in spec["data"]["values"]} == {"lo", "hi"}
    assert spec["data"]["values"][0]["c0"] == "2024-01-01T00:00:00"


def test_check_spec_refuses_a_field_the_result_does_not_have() -> None:
    result, _ = SHAPES["category and measure"]
    spec = choose_chart(result)
    assert spec is not None
    spec["encoding"]["x"]["field"] = "c9"
    with pytest.raises(ChartError, match="c9"):
        check_spec(spec, result)


@pytest.mark.parametrize("suffix", [".svg", ".png", ".html"])
def test_render_offline(suffix: str, tmp_path: Path) -> None:
    result = preview([("country", "string"), ("revenue", "double")], [[HOSTILE, 3.0], ["FR", 2.0]])
    spec = choose_chart(result)
    assert spec is not None
    path = tmp_path / f"chart{suffix}"
    render_chart(spec, path)
    data = path.read_bytes()
    assert len(data) > 1000
    if suffix == ".png":
        assert data.startswith(b"\x89PNG")
    if suffix == ".svg":
        text = data.decode()
        assert text.startswith("<svg") and "<img" not in text and "&lt;img src=x" in text  # a label, as text


def test_render_refuses_an_unknown_format(tmp_path: Path) -> None:
    spec = choose_chart(SHAPES["two measures"][0])
    assert spec is not None
    with pytest.raises(UsageError, match="html, .svg or .png"):
        render_chart(spec, tmp_path / "chart.pdf")
