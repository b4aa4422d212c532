"""The shared result comparison: timestamps as Spark returns them, and same_result for candidate voting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from askspark.engines.worker import json_value
from askspark.record import ColumnInfo, ResultPreview
from askspark.results.compare import compare, moment, same_result, values_equal

# --- dates and timestamps -------------------------------------------------------------------------


def test_a_spark_timestamp_with_utc_offset_equals_the_same_naive_time() -> None:
    # The worker writes a Spark TIMESTAMP read through Arrow (tz-aware) with isoformat().
    spark = json_value(datetime(2025, 3, 9, 19, 0, tzinfo=UTC))
    assert spark == "2025-03-09T19:00:00+00:00"
    assert compare([[spark]], [["2025-03-09 19:00:00"]]).correct
    assert compare([["2025-03-09 19:00:00"]], [[spark]]).correct


@pytest.mark.parametrize(
    "written",
    [
        "2025-03-09T19:00:00",
        "2025-03-09 19:00:00.000000",
        "2025-03-09T19:00:00Z",
        "2025-03-09T19:00:00.000+00:00",
        "2025-03-09 19:00",
        "2025-03-09T19:00:00.000000000",
    ],
)
def test_separator_suffix_and_zero_fraction_do_not_matter(written: str) -> None:
    assert values_equal(written, "2025-03-09 19:00:00", 1e-6)


def test_different_times_stay_different() -> None:
    assert not compare([["2025-03-09T19:00:00+00:00"]], [["2025-03-09 19:00:01"]]).correct
    assert not compare([["2025-03-09T19:00:00.5"]], [["2025-03-09 19:00:00"]]).correct
    assert not compare([["2025-03-10T19:00:00+00:00"]], [["2025-03-09 19:00:00"]]).correct


def test_offsets_on_both_sides_compare_instants() -> None:
    paris = json_value(datetime(2025, 3, 9, 20, 0, tzinfo=timezone(timedelta(hours=1))))
    assert values_equal(paris, "2025-03-09T19:00:00+00:00", 1e-6)
    assert not values_equal(paris, "2025-03-09T20:00:00+00:00", 1e-6)


def test_a_date_equals_only_its_midnight() -> None:
    assert compare([["2025-03-09T00:00:00+00:00"]], [[date(2025, 3, 9)]]).correct
    assert compare([["2025-03-09 00:00:00.000000"]], [["2025-03-09"]]).correct
    assert not compare([["2025-03-09T19:00:00+00:00"]], [["2025-03-09"]]).correct
    assert not compare([["2025-03-10T00:00:00"]], [["2025-03-09"]]).correct


def test_text_that_only_looks_like_a_date_is_compared_as_text() -> None:
    assert moment("20250309") is None  # fromisoformat would read it; a compact number is not a date here
    assert moment("2025-13-40") is None
    assert moment("2025-03-09 at noon") is None
    assert not values_equal("20250309", "2025-03-09", 1e-6)


def test_unordered_rows_with_timestamps_written_differently_still_match() -> None:
    answer = [["2025-03-09T19:00:00+00:00", 2], ["2025-03-08T10:00:00+00:00", 1]]
    expected = [["2025-03-08 10:00:00", 1], ["2025-03-09 19:00:00", 2]]
    assert compare(answer, expected).correct
    assert not compare(answer, expected, ordered=True).correct


# --- same_result ----------------------------------------------------------------------------------


def _result(columns: list[str], rows: list[list[object]], truncated: bool = False) -> ResultPreview:
    return ResultPreview(
        columns=[ColumnInfo(name=c, type="string") for c in columns], rows=rows, truncated=truncated
    )


def test_same_result_ignores_column_names_order_and_row_order() -> None:
    a = _result(["city", "n"], [["Oslo", 3], ["Bergen", 1]])
    b = _result(["count", "name"], [[1, "Bergen"], [3.0000001, "Oslo"]])
    assert same_result(a, b) and same_result(b, a)
    assert not same_result(a, b, ordered=True)


def test_same_result_needs_the_same_columns_and_values() -> None:
    a = _result(["city", "n"], [["Oslo", 3]])
    assert not same_result(a, _result(["city"], [["Oslo"]]))  # fewer columns is another reading
    assert not same_result(_result(["city"], [["Oslo"]]), a)  # and so is an extra one
    assert not same_result(a, _result(["city", "n"], [["Oslo", 4]]))
    assert not same_result(a, _result(["city", "n"], [["Oslo", 3], ["Oslo", 3]]))


def test_same_result_of_empty_and_truncated_results() -> None:
    assert same_result(_result(["a"], []), _result(["b"], []))
    assert not same_result(_result(["a"], []), _result(["a", "b"], []))
    rows: list[list[object]] = [[1], [2]]
    assert same_result(_result(["a"], rows, truncated=True), _result(["a"], rows, truncated=True))
    assert not same_result(_result(["a"], rows, truncated=True), _result(["a"], rows))
