"""Whether two results are the same: the scoring rules of ``askspark eval``, shared with candidate voting.

:func:`compare` scores an answer against an expected result (the answer may have extra columns);
:func:`same_result` asks whether two bounded results hold the same table (same number of columns),
for grouping candidate answers by what they return. Both follow the rules below, leniently but exactly:

* **Rows**: both sides must have as many rows. ``ordered`` compares row *i* with row *i*; otherwise rows
  are compared as multisets (both sides sorted by a stable key, with a one-by-one matching fallback so
  values equal within tolerance but sorted differently still match).
* **Columns**: names are ignored and so is order. Every expected column must be found, by value, as a
  distinct column of the answer; the answer may have *extra* columns (a model that also shows the count
  next to the requested average is not wrong). Fewer columns than expected is wrong.
* **Values**: ``None`` equals only ``None``. Numbers (int, float, decimal; not booleans) compare as
  floats: equal when ``|a - e| <= max(tolerance * max(|a|, |e|), 1e-9)`` (relative ``1e-6`` by default),
  or when the answer rounded the value: an answer written with ``d >= 2`` decimals that equals the
  expected value rounded to ``d`` decimals. Strings compare exactly (case-sensitive). Arrays and structs
  compare element by element.
* **Dates and timestamps** arrive as ISO strings (the worker's ``json_value`` writes ``isoformat()``,
  so a Spark timestamp reads ``2025-03-09T19:00:00+00:00``) and compare as moments, whatever the
  separator (``T`` or space), a ``Z`` or ``+00:00`` suffix and zero fractional seconds
  (``.000000``): two values with offsets compare as instants; a value without an offset compares with
  the wall clock of the other (Spark shows timestamps in the session time zone). A date equals the
  midnight timestamp of the same day (``date_trunc`` returns timestamps) and no other time.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from pydantic import BaseModel

from askspark.record import ResultPreview

DEFAULT_TOLERANCE = 1e-6
ABS_TOLERANCE = 1e-9
MIN_ROUNDED_DECIMALS = 2
MAX_MAPPINGS = 2000
"""Column assignments tried before giving up (columns with identical values multiply them)."""
# An ISO date, or date and time with optional seconds, fraction and UTC offset: checked before
# ``fromisoformat``, which also reads compact forms (``20250309``) that are more likely plain text.
_ISO_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


class Verdict(BaseModel):
    """The outcome of comparing one answer with the expected result."""

    correct: bool
    reason: str = ""
    mapping: list[int] | None = None  # answer column index of each expected column, when correct


# -- values ----------------------------------------------------------------------------------------


def normalize(value: Any) -> Any:
    """One cell in comparable form: numbers as float, dates as ISO strings, arrays/structs as tuples."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return tuple((str(k), normalize(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(normalize(v) for v in value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _decimals(value: float) -> int:
    """Decimals in the shortest repr of ``value`` (``12.5`` -> 1, ``1e-05`` -> 5)."""
    text = repr(value)
    if "e" in text or "E" in text:
        mantissa, _, exponent = text.lower().partition("e")
        frac = mantissa.partition(".")[2].rstrip("0")
        return max(0, len(frac) - int(exponent))
    return len(text.partition(".")[2].rstrip("0"))


def numbers_equal(answer: float, expected: float, tolerance: float) -> bool:
    if math.isnan(answer) or math.isnan(expected):
        return math.isnan(answer) and math.isnan(expected)
    if math.isinf(answer) or math.isinf(expected):
        return answer == expected
    if abs(answer - expected) <= max(tolerance * max(abs(answer), abs(expected)), ABS_TOLERANCE):
        return True
    places = _decimals(answer)
    return places >= MIN_ROUNDED_DECIMALS and abs(round(expected, places) - answer) <= 10 ** -(places + 3)


def moment(text: str) -> dt.datetime | None:
    """An ISO date (as its midnight) or timestamp string as a datetime; None for any other text."""
    if not _ISO_MOMENT.fullmatch(text):
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:  # shaped like a date but not one (2025-13-40)
        return None


def moments_equal(answer: str, expected: str) -> bool:
    """Whether two strings are the same date or time (see the module docstring)."""
    a, e = moment(answer), moment(expected)
    if a is None or e is None:
        return False
    if a.tzinfo is None or e.tzinfo is None:  # one side has no offset: compare wall clocks
        return a.replace(tzinfo=None) == e.replace(tzinfo=None)
    return a == e  # both have offsets: the same instant


def values_equal(answer: Any, expected: Any, tolerance: float) -> bool:
    """Whether two normalized cells are equal under the rules in the module docstring."""
    if answer is None or expected is None:
        return answer is None and expected is None
    if isinstance(answer, bool) or isinstance(expected, bool):
        return answer is expected
    if isinstance(answer, float) and isinstance(expected, float):
        return numbers_equal(answer, expected, tolerance)
    if isinstance(answer, str) and isinstance(expected, str):
        return answer == expected or moments_equal(answer, expected)
    if isinstance(answer, tuple) and isinstance(expected, tuple):
        return len(answer) == len(expected) and all(
            values_equal(a, e, tolerance) for a, e in zip(answer, expected, strict=True)
        )
    return bool(answer == expected)


def _sort_key(value: Any) -> tuple[int, Any]:
    """A total order over normalized cells that puts values equal within tolerance next to each other."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, float):
        return (2, 0.0 if math.isnan(value) else float(f"{value:.5g}"))
    if isinstance(value, str):
        when = moment(value)  # the wall clock: equal moments written differently sort together
        return (3, when.replace(tzinfo=None).isoformat() if when else value)
    return (4, repr(value))


# -- rows and columns ------------------------------------------------------------------------------


def rows_equal(answer: Sequence[Any], expected: Sequence[Any], tolerance: float) -> bool:
    return all(values_equal(a, e, tolerance) for a, e in zip(answer, expected, strict=True))


def _multiset_match(answer: list[tuple[Any, ...]], expected: list[tuple[Any, ...]], tolerance: float) -> bool:
    """Whether the rows match as multisets: sorted pairwise first, then one-by-one matching."""

    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_sort_key(v) for v in row)

    a_sorted, e_sorted = sorted(answer, key=key), sorted(expected, key=key)
    if all(rows_equal(a, e, tolerance) for a, e in zip(a_sorted, e_sorted, strict=True)):
        return True
    unmatched = list(a_sorted)
    for row in e_sorted:
        for i, candidate in enumerate(unmatched):
            if rows_equal(candidate, row, tolerance):
                del unmatched[i]
                break
        else:
            return False
    return True


def _rows_match(
    answer: list[tuple[Any, ...]], expected: list[tuple[Any, ...]], ordered: bool, tolerance: float
) -> bool:
    if ordered:
        return all(rows_equal(a, e, tolerance) for a, e in zip(answer, expected, strict=True))
    return _multiset_match(answer, expected, tolerance)


def _same_position_first(position: int, k: int) -> tuple[bool, int]:
    return (k != position, k)


def _column_candidates(
    answer: list[tuple[Any, ...]], expected: list[tuple[Any, ...]], ordered: bool, tolerance: float
) -> list[list[int]] | int:
    """For each expected column, the answer columns holding its values (same position first); the
    1-based number of the first expected column that no answer column holds, when there is one."""
    got, width = len(answer[0]), len(expected[0])
    columns_a = [[(row[k],) for row in answer] for k in range(got)]
    candidates: list[list[int]] = []
    for j in range(width):
        column = [(row[j],) for row in expected]
        found = [k for k in range(got) if _rows_match(columns_a[k], column, ordered, tolerance)]
        if not found:
            return j + 1
        candidates.append(sorted(found, key=partial(_same_position_first, j)))
    return candidates


def _mappings(candidates: list[list[int]], used: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    """Injective assignments of answer columns to expected columns, in candidate order."""
    if len(used) == len(candidates):
        yield used
        return
    for k in candidates[len(used)]:
        if k not in used:
            yield from _mappings(candidates, (*used, k))


def compare(
    answer_rows: Sequence[Sequence[Any]],
    expected_rows: Sequence[Sequence[Any]],
    *,
    ordered: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    expected_width: int | None = None,
) -> Verdict:
    """Score an answer's rows against the expected rows (see the module docstring for the rules)."""
    answer = [tuple(normalize(v) for v in row) for row in answer_rows]
    expected = [tuple(normalize(v) for v in row) for row in expected_rows]
    if len(answer) != len(expected):
        return Verdict(correct=False, reason=f"expected {len(expected)} rows, got {len(answer)}")
    width = len(expected[0]) if expected else (expected_width or 0)
    got = len(answer[0]) if answer else width
    if not expected:
        return Verdict(correct=True, reason="both results are empty", mapping=list(range(width)))
    if got < width:
        return Verdict(correct=False, reason=f"expected {width} columns, got {got}")
    candidates = _column_candidates(answer, expected, ordered, tolerance)
    if isinstance(candidates, int):
        return Verdict(
            correct=False, reason=f"no answer column holds the values of expected column {candidates}"
        )
    for tried, mapping in enumerate(_mappings(candidates), start=1):
        projected = [tuple(row[k] for k in mapping) for row in answer]
        if _rows_match(projected, expected, ordered, tolerance):
            return Verdict(correct=True, mapping=list(mapping))
        if tried >= MAX_MAPPINGS:
            break
    what = "in the expected order" if ordered else "as a set of rows"
    return Verdict(correct=False, reason=f"every column matches on its own, but the rows differ {what}")


def same_result(
    a: ResultPreview, b: ResultPreview, *, tolerance: float = DEFAULT_TOLERANCE, ordered: bool = False
) -> bool:
    """Whether two bounded results hold the same table: as many columns, in any order, under any
    names, with equal values (the rules above). A truncated result only equals another truncated one
    whose shown rows are the same (what lies beyond the bound is unknown)."""
    if len(a.columns) != len(b.columns) or a.truncated != b.truncated:
        return False
    verdict = compare(a.rows, b.rows, ordered=ordered, tolerance=tolerance, expected_width=len(b.columns))
    return verdict.correct
