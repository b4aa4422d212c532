"""A chart for an answer, chosen from the bounded result's shape and types, as a Vega-Lite spec.

The spec is built here from the result's columns, never taken from model text, and it holds the
bounded preview's rows only. The choice, in order:

- no rows, or one row (a single value, or one record: the top country and its total) → no chart: the
  row is the answer (a single value is shown big in the web UI);
- a time column (date, timestamp, or an integer ``year``/``month``/… column) and measures → line, one line
  per measure, or per category when one small category column comes with one measure;
- a category and one measure → horizontal bar, sorted by the measure, the first ``TOP_N`` rows with the
  rest noted in the subtitle (a share is a bar too: bars compare, pies do not);
- a category, a second small category and one measure → stacked bar;
- two measures → scatter, every other column in the tooltip;
- a category and three to five measures → grouped bar;
- anything else → no chart.

Column names can hold any text (dots, brackets, markup): the data's keys are ``c0``, ``c1``, … and the
names appear only as titles, which Vega draws as text.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from askspark.errors import UsageError
from askspark.record import VL_VERSION, ColumnInfo, ResultPreview, chart_svg

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
TOP_N = 20  # bars shown at most; a longer ranking is cut and the rest noted
MAX_SERIES = 10  # lines or stack colors at most: more cannot be told apart
MAX_GROUPED = 5  # measures in a grouped bar at most
WIDTH, HEIGHT = 560, 300

_NUMERIC = re.compile(r"^(tinyint|smallint|int|integer|bigint|long|short|byte|float|double|decimal)")
_TEMPORAL = re.compile(r"^(date|timestamp)")
_TIME_NAME = re.compile(r"^(year|yr|quarter|month|week|day|hour)s?$|_(year|month|quarter|week|day)$", re.I)
_INTEGER = re.compile(r"^(tinyint|smallint|int|integer|bigint|long|short|byte)$")


def role(column: ColumnInfo) -> str:
    """``time``, ``ordinal_time`` (an integer year or month), ``measure`` or ``category``."""
    kind = column.type.lower()
    if _TEMPORAL.match(kind):
        return "time"
    if _INTEGER.match(kind) and _TIME_NAME.search(column.name):
        return "ordinal_time"
    if _NUMERIC.match(kind):
        return "measure"
    return "category"


def choose_chart(result: ResultPreview | None) -> dict[str, Any] | None:
    """The Vega-Lite spec of the result's chart, or None when no chart fits (see the module doc)."""
    if result is None or not result.rows:
        return None
    roles = [role(c) for c in result.columns]
    index = {
        r: [i for i, x in enumerate(roles) if x == r] for r in ("time", "ordinal_time", "measure", "category")
    }
    times, measures, categories = index["time"] + index["ordinal_time"], index["measure"], index["category"]
    if len(result.rows) == 1:  # one value or one record: the answer is the row itself, not a chart
        return None
    spec = _pick(result, times, measures, categories)
    if spec is not None:
        check_spec(spec, result)
    return spec


def _pick(
    result: ResultPreview, times: list[int], measures: list[int], categories: list[int]
) -> dict[str, Any] | None:
    """The chart kind for the columns' roles, or None."""
    if len(times) == 1 and measures and len(result.rows) > 1:
        return line_chart(result, times[0], measures, categories)
    if len(categories) == 1 and len(measures) == 1 and not times:
        return bar_chart(result, categories[0], measures[0])
    if len(categories) == 2 and len(measures) == 1 and not times:
        return stacked_bar(result, categories, measures[0])
    if len(measures) == 2 and len(result.rows) > 1 and not times:
        return scatter(result, measures, categories)
    if len(categories) == 1 and 3 <= len(measures) <= MAX_GROUPED and not times:
        return grouped_bar(result, categories[0], measures)
    return None


# -- the kinds --------------------------------------------------------------------------------------


def line_chart(
    result: ResultPreview, time: int, measures: list[int], categories: list[int]
) -> dict[str, Any] | None:
    """Measures over time: one line per measure, or per category with one measure and one category."""
    columns = result.columns
    x = _time_axis(columns[time], time)
    if len(measures) == 1 and len(categories) == 1:
        if _distinct(result, categories[0]) > MAX_SERIES:
            return None
        encoding = {
            "x": x,
            "y": _measure(columns[measures[0]], measures[0]),
            "color": _category(columns[categories[0]], categories[0]),
        }
        return _spec(result, {"type": "line", "point": True}, encoding)
    if categories or len(measures) > MAX_SERIES:
        return None
    if len(measures) == 1:
        encoding = {"x": x, "y": _measure(columns[measures[0]], measures[0])}
        return _spec(result, {"type": "line", "point": True}, encoding)
    values = _long(result, [time], measures)
    encoding = {
        "x": x,
        "y": {"field": "value", "type": "quantitative", "title": None},
        "color": {"field": "measure", "type": "nominal", "title": None},
    }
    return _spec(result, {"type": "line", "point": True}, encoding, values=values)


def bar_chart(result: ResultPreview, category: int, measure: int) -> dict[str, Any]:
    """One bar per category, longest first; past ``TOP_N`` the rest is noted, not drawn."""
    columns = result.columns
    ranked = sorted(result.rows, key=lambda row: _sort_key(row[measure]), reverse=True)
    encoding = {
        "y": {**_category(columns[category], category), "sort": "-x"},
        "x": _measure(columns[measure], measure),
        "tooltip": [_category(columns[category], category), _measure(columns[measure], measure)],
    }
    return _spec(result, {"type": "bar"}, encoding, rows=ranked[:TOP_N])


def stacked_bar(result: ResultPreview, categories: list[int], measure: int) -> dict[str, Any] | None:
    """Bars of the category with more values, stacked by the one with fewer (at most ``MAX_SERIES``)."""
    first, second = sorted(categories, key=lambda i: -_distinct(result, i))
    if _distinct(result, second) > MAX_SERIES or _distinct(result, first) > TOP_N:
        return None
    columns = result.columns
    encoding = {
        "y": {**_category(columns[first], first), "sort": "-x"},
        "x": {**_measure(columns[measure], measure), "aggregate": "sum"},
        "color": _category(columns[second], second),
        "tooltip": [_category(columns[i], i) for i in (first, second)]
        + [_measure(columns[measure], measure)],
    }
    return _spec(result, {"type": "bar"}, encoding)


def scatter(result: ResultPreview, measures: list[int], categories: list[int]) -> dict[str, Any]:
    """Two measures against each other; the categories name the points in the tooltip."""
    columns = result.columns
    x, y = measures
    encoding = {
        "x": {**_measure(columns[x], x), "scale": {"zero": False}},
        "y": {**_measure(columns[y], y), "scale": {"zero": False}},
        "tooltip": [_category(columns[i], i) for i in categories]
        + [_measure(columns[i], i) for i in measures],
    }
    return _spec(result, {"type": "point", "filled": True}, encoding)


def grouped_bar(result: ResultPreview, category: int, measures: list[int]) -> dict[str, Any] | None:
    """Several measures per category, side by side (one color per measure)."""
    if _distinct(result, category) > TOP_N:
        return None
    columns = result.columns
    encoding = {
        "x": _category(columns[category], category),
        "xOffset": {"field": "measure", "type": "nominal"},
        "y": {"field": "value", "type": "quantitative", "title": None},
        "color": {"field": "measure", "type": "nominal", "title": None},
        "tooltip": [
            _category(columns[category], category),
            {"field": "measure", "type": "nominal"},
            {"field": "value", "type": "quantitative"},
        ],
    }
    return _spec(result, {"type": "bar"}, encoding, values=_long(result, [category], measures))


# -- pieces -----------------------------------------------------------------------------------------


def key(i: int) -> str:
    """The data key of column ``i``: safe for Vega's field syntax whatever the column is called."""
    return f"c{i}"


def _measure(column: ColumnInfo, i: int) -> dict[str, Any]:
    return {"field": key(i), "type": "quantitative", "title": column.name}


def _category(column: ColumnInfo, i: int) -> dict[str, Any]:
    return {"field": key(i), "type": "nominal", "title": column.name}


def _time_axis(column: ColumnInfo, i: int) -> dict[str, Any]:
    kind = "temporal" if role(column) == "time" else "ordinal"
    return {"field": key(i), "type": kind, "title": column.name}


def _long(result: ResultPreview, keep: list[int], measures: list[int]) -> list[dict[str, Any]]:
    """The rows in long form, one per (row, measure): the measure named by its column name, as data
    (no expression holds a name: Vega draws it as text)."""
    return [
        {
            **{key(i): _json_value(row[i]) for i in keep},
            "measure": result.columns[m].name,
            "value": _json_value(row[m]),
        }
        for row in result.rows
        for m in measures
    ]


def _distinct(result: ResultPreview, i: int) -> int:
    return len({_json_value(row[i]) for row in result.rows})


def _sort_key(value: Any) -> float:
    number = _json_value(value)
    return float(number) if isinstance(number, int | float) and not math.isnan(number) else -math.inf


def _json_value(value: Any) -> Any:
    """A cell as JSON data: dates as ISO text, decimals as floats, NaN and infinities as null."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def _spec(
    result: ResultPreview,
    mark: dict[str, Any],
    encoding: dict[str, Any],
    *,
    rows: list[list[Any]] | None = None,
    values: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A whole spec: the bounded rows as inline values, what is not drawn noted in the subtitle."""
    shown = result.rows if rows is None else rows
    if values is None:
        values = [{key(i): _json_value(v) for i, v in enumerate(row)} for row in shown]
    spec: dict[str, Any] = {
        "$schema": SCHEMA,
        "width": WIDTH,
        "height": HEIGHT,
        "description": _describe(mark["type"], encoding),  # the SVG's aria-label for screen readers
        "data": {"values": values},
        "mark": {**mark, "tooltip": True} if "tooltip" not in encoding else mark,
        "encoding": encoding,
    }
    note = _note(result, len(shown))
    if note:
        spec["title"] = {"text": note, "anchor": "start", "fontSize": 11, "fontWeight": "normal"}
    if mark["type"] == "bar" and "y" in encoding and encoding["y"]["type"] == "nominal":
        spec["height"] = {"step": 18}  # horizontal bars: the chart grows with the categories
    return spec


def _describe(mark: str, encoding: dict[str, Any]) -> str:
    """'bar chart of revenue by country' (the column names as they are: an attribute, never markup)."""
    kind = {"point": "scatter", "bar": "bar", "line": "line"}[mark]
    titles = {c: encoding[c].get("title") or "several measures" for c in ("x", "y") if c in encoding}
    horizontal = encoding["x"]["type"] == "quantitative" and encoding["y"]["type"] != "quantitative"
    measure, along = (titles["x"], titles["y"]) if horizontal else (titles["y"], titles["x"])
    text = f"{kind} chart of {measure} by {along}"
    color = encoding.get("color", {}).get("title")
    return text + (f" and {color}" if color else "")


def _note(result: ResultPreview, shown: int) -> str:
    """'Top 20 of 35 rows shown' / 'first 1000 rows of a larger result', or ''."""
    total = len(result.rows)
    parts = []
    if shown < total:
        parts.append(
            f"top {shown} of {total}{'+' if result.truncated else ''} rows shown; {total - shown} more not drawn"
        )
    elif result.truncated:
        parts.append(f"the first {total} rows of a larger result")
    return "; ".join(parts)


# -- validation -------------------------------------------------------------------------------------


class ChartError(ValueError):
    """A spec that refers to a field its data does not hold (a bug here, never the user's)."""


def check_spec(spec: dict[str, Any], result: ResultPreview) -> None:
    """Every encoded field is a column of the result or the long form's ``measure``/``value``, and every
    data row holds only those keys; raise otherwise."""
    known = {key(i) for i in range(len(result.columns))} | {"measure", "value"}
    for channel, definition in spec["encoding"].items():
        for field in _fields(definition):
            if field not in known:
                raise ChartError(f"chart channel {channel!r} refers to unknown field {field!r}")
    stray = {k for row in spec["data"]["values"] for k in row} - known
    if stray:
        raise ChartError(f"chart data holds unknown fields {sorted(stray)}")


def _fields(definition: Any) -> list[str]:
    if isinstance(definition, list):
        return [f for d in definition for f in _fields(d)]
    field = definition.get("field") if isinstance(definition, dict) else None
    return [field] if isinstance(field, str) else []


# -- rendering --------------------------------------------------------------------------------------

FORMATS = (".html", ".svg", ".png")


def check_chart_path(path: Path) -> str:
    """The chart file's format (its suffix); a name of no known format is a usage error."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(
            f"cannot write a chart as {path.name!r}", suggestion="name an .html, .svg or .png file"
        )
    return suffix


def render_chart(spec: dict[str, Any], path: Path) -> None:
    """Write the chart as an HTML page (scripts bundled in), an SVG or a PNG, chosen by the file's
    suffix, offline: vl-convert runs Vega in-process and may load nothing from any URL."""
    suffix = check_chart_path(path)
    try:
        import vl_convert as vlc
    except ImportError:
        raise UsageError(
            "rendering a chart needs vl-convert-python", suggestion="pip install 'askspark[charts]'"
        ) from None
    if suffix == ".png":
        path.write_bytes(vlc.vegalite_to_png(spec, vl_version=VL_VERSION, scale=2, allowed_base_urls=[]))
    elif suffix == ".svg":
        path.write_text(chart_svg(spec))
    else:
        path.write_text(vlc.vegalite_to_html(spec, vl_version=VL_VERSION, bundle=True))
