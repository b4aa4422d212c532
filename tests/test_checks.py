"""Result checks: each one on a result that should raise it and one that should not; and no check
raises an alarm on the reference answer of any question of any shipped suite."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from askspark.record import ColumnInfo, ResultPreview
from askspark.results import checks
from askspark.results.checks import CHECKS, check_result, grouping_words, top_n

SUITES = sorted((Path(__file__).parent.parent / "suites").glob("*.jsonl"))


def preview(columns: list[str], rows: list[list[Any]], types: list[str] | None = None) -> ResultPreview:
    types = types or ["string"] * len(columns)
    return ResultPreview(
        columns=[ColumnInfo(name=n, type=t) for n, t in zip(columns, types, strict=True)],
        rows=rows,
        truncated=False,
        row_count=len(rows),
    )


# (check, question, result): each must raise its check's alarm.
TRIGGERS = [
    (checks.empty_result, "How many orders were shipped to Germany?", preview(["orders"], [])),
    (
        checks.one_row_for_each,
        "What is the highest closing price for each symbol?",
        preview(["symbol", "max_close"], [["AAPL", 199.5]]),
    ),
    (
        checks.one_row_for_each,
        "Total revenue per customer in 2024",
        preview(["customer_id", "revenue"], [["ALFKI", 10.0]]),
    ),
    (
        checks.duplicate_groups,
        "What is the total revenue for each category?",
        preview(["category", "revenue"], [["Dairy", 1.0], ["Dairy", 2.0], ["Meat", 3.0]]),
    ),
    (
        checks.more_than_top_n_per_group,
        "What are the top 2 pages by views for each device?",
        preview(["device", "page", "views"], [["ios", "/a", 3], ["ios", "/b", 2], ["ios", "/c", 1]]),
    ),
    (
        checks.one_row_for_each,
        "For each day of March, which device was coldest? Give the lowest temperature.",
        preview(["date", "device", "temp"], [["2025-03-01", "a", -2.0]], ["date", "string", "double"]),
    ),
    (
        checks.top_n_of_all_rows,
        "For each device, which 2 pages have the most page_view events?",
        preview(["device", "page", "views"], [["ios", "/a", 9], ["web", "/a", 8]]),
    ),
    (
        checks.null_column,
        "Show each order with its customer's country.",
        preview(["order_id", "country"], [[1, None], [2, None]]),
    ),
    (
        checks.more_than_top_n,
        "Which are the top 3 products by revenue?",
        preview(["product", "revenue"], [["a", 4.0], ["b", 3.0], ["c", 2.0], ["d", 1.0]]),
    ),
    (
        checks.more_than_top_n,
        "Name the five most expensive products.",
        preview(["product"], [[str(i)] for i in range(6)]),
    ),
    (
        checks.percentage_out_of_range,
        "What share of orders came from France?",
        preview(["pct_france"], [[250.0]], ["double"]),
    ),
    (
        checks.percentage_out_of_range,
        "What percentage of revenue comes from the Dairy category?",
        preview(["dairy"], [[1520.3]], ["double"]),
    ),
    (
        checks.count_for_a_percentage,
        "For each region, what percentage of its customers placed an order? Return the region and it.",
        preview(
            ["region", "customers_with_orders"], [["North", 4951], ["South", 2057]], ["string", "bigint"]
        ),
    ),
    (
        checks.hundred_on_every_row,
        "What share of the total amount does each segment account for, in percent?",
        preview(["segment", "share_pct"], [["Corporate", 100.0], ["Consumer", 100.0]], ["string", "double"]),
    ),
    (
        checks.interval_for_a_number,
        "For patient 12, list each visit and the number of days since the patient's previous visit.",
        preview(
            ["visit_id", "gap"], [[1, None], [2, "3 days, 0:33:43"]], ["bigint", "interval day to second"]
        ),
    ),
    (  # COALESCE(change, 0): January's null became 0
        checks.no_null_where_asked,
        "For each month of 2024, show the month number, the total and the change from the previous month (null for January).",
        preview(["month", "total", "change"], [[1, 10.0, 0.0], [2, 12.5, 2.5]], ["int", "double", "double"]),
    ),
    (  # rt-monthly-change (tune): LAG(total) named 'change'
        checks.previous_value_for_a_change,
        "For each month of 2024, show the month number, the total and the change from the previous month (null for January).",
        preview(
            ["month", "total", "change"],
            [[1, 10.0, None], [2, 12.5, 10.0], [3, 11.0, 12.5]],
            ["int", "double", "double"],
        ),
    ),
]

# (check, question, result): none may raise its check's alarm.
QUIET = [
    (  # every group's top N
        checks.top_n_of_all_rows,
        "For each device, which 2 pages have the most page_view events?",
        preview(
            ["device", "page", "views"],
            [["ios", "/a", 9], ["ios", "/b", 5], ["web", "/a", 8], ["web", "/c", 2]],
        ),
    ),
    (  # the top N of all rows was asked
        checks.top_n_of_all_rows,
        "Which 2 pages have the most page_view events?",
        preview(["page", "views"], [["/a", 9], ["/b", 8]]),
    ),
    (  # a listing within groups
        checks.top_n_of_all_rows,
        "List the top 2 pages within each device with their rank.",
        preview(["device", "page", "rank"], [["ios", "/a", 1], ["ios", "/b", 2]]),
    ),
    (
        checks.more_than_top_n_per_group,
        "Which 2 pages had the most views on each device?",
        preview(["device", "page", "views"], [["ios", "/a", 3], ["ios", "/b", 2], ["web", "/a", 1]]),
    ),
    (
        checks.more_than_top_n_per_group,
        "List the top 2 pages within each device, with every page's rank.",
        preview(["device", "page", "rank"], [["ios", "/a", 1], ["ios", "/b", 2], ["ios", "/c", 3]]),
    ),
    (checks.empty_result, "How many orders were shipped to Germany?", preview(["orders"], [[3]])),
    (checks.empty_result, "Are there any orders with a negative quantity?", preview(["order_id"], [])),
    (
        checks.one_row_for_each,
        "What is the average number of items per order?",
        preview(["avg_items_per_order"], [[3.5]]),
    ),
    (
        checks.one_row_for_each,
        "What is the average revenue per order?",
        preview(["avg_order_revenue"], [[12.3]], ["double"]),
    ),
    (
        checks.one_row_for_each,
        "Which customer has the highest revenue? Sort by customer.",
        preview(["customer", "revenue"], [["ALFKI", 10.0]]),
    ),
    (
        checks.one_row_for_each,
        "What is the highest closing price for each symbol?",
        preview(["symbol", "max_close"], [["AAPL", 199.5], ["MSFT", 420.0]]),
    ),
    (
        checks.duplicate_groups,
        "What is the total revenue for each customer and year?",
        preview(["customer", "year", "revenue"], [["a", 2023, 1.0], ["a", 2024, 2.0]]),
    ),
    (
        checks.duplicate_groups,
        "List the orders of each customer.",
        preview(["customer", "order_id"], [["a", 1], ["a", 2]]),
    ),
    (
        checks.duplicate_groups,
        "Rank the products within each category by total quantity sold (rank 1 = most units).",
        preview(["category", "product", "rank"], [["x", "a", 1], ["x", "b", 2]]),
    ),
    (
        checks.duplicate_groups,
        "What are the top 2 products by revenue in each category?",
        preview(["category", "product"], [["x", "a"], ["x", "b"]]),
    ),
    (
        checks.duplicate_groups,
        "For each store, which 3 products sold the most units? Return the store, the product and the units.",
        preview(["store", "product", "units"], [["s1", "a", 9], ["s1", "b", 8], ["s1", "c", 7]]),
    ),
    (
        checks.null_column,
        "Show each order with its customer's country.",
        preview(["order_id", "country"], [[1, None], [2, "FR"]]),
    ),
    (checks.null_column, "How many orders are there?", preview(["n"], [])),
    (
        checks.more_than_top_n,
        "Which are the top 3 products by revenue?",
        preview(["product", "revenue"], [["a", 4.0], ["b", 3.0], ["c", 2.0]]),
    ),
    (
        checks.more_than_top_n,
        "What are the top 3 products in each category?",
        preview(["category", "product"], [["x", str(i)] for i in range(6)]),
    ),
    (
        checks.more_than_top_n,
        "Which customers are in the top 10% by revenue?",
        preview(["c"], [[i] for i in range(50)]),
    ),
    (
        checks.percentage_out_of_range,
        "What share of orders came from France?",
        preview(["share_france"], [[0.25]], ["double"]),
    ),
    (
        checks.percentage_out_of_range,
        "What share of orders came from France?",
        preview(["pct_france"], [[100.0]], ["double"]),
    ),
    (
        checks.percentage_out_of_range,
        "What is the percentage change of revenue from 2023 to 2024?",
        preview(["pct_change"], [[-12.5]], ["double"]),
    ),
    (
        checks.percentage_out_of_range,
        "What percentage of orders had a discount? Also give the number of orders.",
        preview(["orders", "discounted"], [[830, 12.5]], ["bigint", "double"]),
    ),
    (
        checks.count_for_a_percentage,
        "How many orders had a discount of 10 percent?",
        preview(["orders"], [[12]], ["bigint"]),
    ),
    (
        checks.count_for_a_percentage,
        "What percentage of orders had a discount?",
        preview(["pct"], [[12.5]], ["decimal(38,14)"]),
    ),
    (
        checks.hundred_on_every_row,
        "What share of orders was shipped, per region?",
        preview(["region", "share_pct"], [["North", 100.0], ["South", 87.5]], ["string", "double"]),
    ),
    (
        checks.interval_for_a_number,
        "How long after signing up did each user make a purchase?",
        preview(["user_id", "gap"], [[1, "1 day, 0:00:00"]], ["bigint", "interval day to second"]),
    ),
    (
        checks.interval_for_a_number,
        "How many seconds passed between each user's first and last event?",
        preview(["user_id", "seconds"], [[1, 86400]], ["bigint", "bigint"]),
    ),
    (  # January's change is null, as asked
        checks.no_null_where_asked,
        "For each month of 2024, show the month number, the total and the change from the previous month (null for January).",
        preview(["month", "total", "change"], [[1, 10.0, None], [2, 12.5, 2.5]], ["int", "double", "double"]),
    ),
    (  # no null asked for: a change of 0 is just a change
        checks.no_null_where_asked,
        "For each month of 2024, show the total and the change from the previous month.",
        preview(["month", "total", "change"], [[1, 10.0, 0.0], [2, 12.5, 2.5]], ["int", "double", "double"]),
    ),
    (  # the previous value shown beside the change: both asked, or at least not wrong
        checks.previous_value_for_a_change,
        "For each month of 2024, show the month number, the total and the change from the previous month (null for January).",
        preview(
            ["month", "total", "previous", "change"],
            [[1, 10.0, None, None], [2, 12.5, 10.0, 2.5], [3, 11.0, 12.5, -1.5]],
            ["int", "double", "double", "double"],
        ),
    ),
    (  # the change as a percentage of the previous value
        checks.previous_value_for_a_change,
        "Show each day's revenue, the previous day's revenue and the growth from the previous day in percent.",
        preview(
            ["day", "revenue", "prev", "growth_pct"],
            [["d1", 10.0, None, None], ["d2", 20.0, 10.0, 100.0], ["d3", 15.0, 20.0, -25.0]],
            ["string", "double", "double", "double"],
        ),
    ),
    (  # the change written backwards (previous minus current) beside the previous value
        checks.previous_value_for_a_change,
        "Show each month's total, last month's total and the change from the previous month.",
        preview(
            ["month", "total", "previous", "change"],
            [[1, 10.0, None, None], [2, 12.5, 10.0, -2.5], [3, 11.0, 12.5, 1.5]],
            ["int", "double", "double", "double"],
        ),
    ),
    (  # too few rows to tell a shifted copy from chance
        checks.previous_value_for_a_change,
        "For each month of 2024, show the month number, the total and the change from the previous month (null for January).",
        preview(
            ["month", "total", "change"], [[1, 10.0, None], [2, 10.0, 10.0]], ["int", "double", "double"]
        ),
    ),
]


@pytest.mark.parametrize(("check", "question", "result"), TRIGGERS, ids=lambda v: getattr(v, "__name__", ""))
def test_check_raises_its_alarm(check: checks.Check, question: str, result: ResultPreview) -> None:
    message = check(question, result)
    assert message, f"{check.__name__} stayed silent on {question!r}"
    assert "; " not in message  # the loop joins several alarms with '; '


@pytest.mark.parametrize(("check", "question", "result"), QUIET, ids=lambda v: getattr(v, "__name__", ""))
def test_check_stays_silent(check: checks.Check, question: str, result: ResultPreview) -> None:
    assert check(question, result) is None


def test_every_check_has_a_case_of_each_kind() -> None:
    assert {c for c, _, _ in TRIGGERS} == set(CHECKS) == {c for c, _, _ in QUIET}


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("Revenue for each product category in 2024", ["product", "category"]),
        ("Number of orders for each customer per year", ["customer", "year"]),
        ("Total for each customer and year, with the most recent first", ["customer", "year"]),
        ("Orders placed by customers in France, sorted by date", []),
        ("Revenue by country", ["country"]),
        ("Compute each supplier's revenue", ["supplier"]),
        ("What is the average quantity per order?", ["order"]),
    ],
)
def test_grouping_words(question: str, words: list[str]) -> None:
    assert grouping_words(question) == words


@pytest.mark.parametrize(
    ("question", "n"),
    [
        ("top 5 customers", 5),
        ("the three most ordered products", 3),
        ("top-two", 2),
        ("top 10% of", None),
        ("most", None),
    ],
)
def test_top_n(question: str, n: int | None) -> None:
    assert top_n(question) == n


def test_check_result_collects_every_alarm_in_order() -> None:
    result = preview(["category", "share_pct"], [["Dairy", None]])
    alarms = check_result("What is the share of revenue for each category?", result)
    assert len(alarms) == 2 and "1 row" in alarms[0] and "null" in alarms[1]


# -- every shipped suite's reference answers raise no alarm -----------------------------------------


def _questions() -> list[tuple[str, object]]:
    from askspark.evals.suite import load_suite

    return [(f"{path.stem}:{q.id}", q) for path in SUITES for q in load_suite(path)]


def _needs_generation(tables: set[str], settings: object) -> None:
    from askspark.evals.cli import _ensure_tpch, ensure_sample

    ensure_sample(tables, settings)
    _ensure_tpch(tables, settings)


@pytest.mark.slow
def test_no_alarm_on_any_reference_answer(settings: object, engine: object) -> None:
    """Inline expected rows are checked as they are; references are run on the local engine."""
    from askspark.evals.reference import compute_expected
    from askspark.evals.suite import Question

    # An unanswerable question (issue 13) has no reference answer: right when the run asks back.
    questions = [(n, q) for n, q in _questions() if not getattr(q, "unanswerable", False)]
    assert len(SUITES) >= 2 and questions
    _needs_generation({t for _, q in questions for t in q.tables if isinstance(q, Question)}, settings)
    alarms = {}
    # Two references at a time: most of a reference's time is its sandboxed worker starting, which
    # overlaps with the other's Spark job (the engine serves concurrent runs, as under HTTP).
    with ThreadPoolExecutor(max_workers=2) as pool:
        references = list(
            pool.map(lambda q: compute_expected(q, engine, settings), [q for _, q in questions])
        )
    for (name, question), expected in zip(questions, references, strict=True):
        assert isinstance(question, Question)
        result = ResultPreview(
            columns=[
                ColumnInfo(name=c, type=_type_of(expected.rows, i)) for i, c in enumerate(expected.columns)
            ],
            rows=expected.rows,
            truncated=expected.truncated,
            row_count=None if expected.truncated else len(expected.rows),
        )
        found = check_result(question.question, result)
        if found:
            alarms[name] = found
    assert not alarms, alarms


def _type_of(rows: list[list[Any]], index: int) -> str:
    """A Spark-like type name for an inline column (references report the real one)."""
    values = [row[index] for row in rows if index < len(row) and row[index] is not None]
    if values and all(isinstance(v, float) for v in values):
        return "double"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "bigint"
    return "string"


# -- in the repair loop, on real Spark ---------------------------------------------------------------

EACH = "What is the highest closing price for each symbol?"
ONE_ROW = "SELECT symbol, close FROM nasdaq ORDER BY close DESC LIMIT 1"
GROUPED = "SELECT symbol, MAX(close) AS max_close FROM nasdaq GROUP BY symbol"


def _ask(settings: object, engine: object, replies: list[str], **update: object) -> tuple[Any, Any]:
    from askspark import api
    from askspark.llm.scripted import ScriptedLLM

    llm = ScriptedLLM(
        replies=[f'```python\ndef answer(spark, tables):\n    return spark.sql("{r}")\n```' for r in replies]
    )
    # Rewrites off: these test how a suspect result goes back to the model (a rewrite would answer
    # ONE_ROW's question itself; tests/test_rewrites.py covers that).
    run_settings = settings.model_copy(update={"rewrites": False, **update})  # type: ignore[attr-defined]
    return api.ask(EACH, ["northwind.nasdaq"], engine=engine, model=llm, settings=run_settings), llm  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_suspect_result_is_fed_back_and_repaired(settings: object, engine: object) -> None:
    answer, llm = _ask(settings, engine, [ONE_ROW, GROUPED])
    first, second = answer.attempts
    assert (
        first.stage == "execute" and first.error.kind == "suspect_result" and "1 row" in first.error.message
    )
    assert "suspect_result" in "\n".join(m.content for m in llm.calls[1].messages)
    assert second.error is None and answer.status == "succeeded" and len(answer.result.rows) == 6
    assert answer.suspect == [] and not any("may be wrong" in n for n in answer.notices)


@pytest.mark.slow
def test_a_suspect_result_that_survives_is_answered_and_flagged(settings: object, engine: object) -> None:
    answer, _ = _ask(settings, engine, [ONE_ROW, ONE_ROW])
    assert answer.stop_reason == "the same error came back twice"
    assert answer.status == "succeeded" and answer.error is None and len(answer.result.rows) == 1
    assert answer.suspect and "each symbol" in answer.suspect[0]
    assert any(
        n.startswith("This answer may be wrong: the question asks for each symbol") for n in answer.notices
    )


@pytest.mark.slow
def test_the_suspect_result_outlives_a_later_failure(settings: object, engine: object) -> None:
    answer, _ = _ask(settings, engine, [ONE_ROW, "SELECT nope FROM nasdaq"], max_attempts=2)
    assert answer.attempts[1].error.kind == "unresolved_column"
    assert answer.status == "succeeded" and ONE_ROW in answer.code and answer.result.rows[0][0] is not None
    assert answer.suspect


@pytest.mark.slow
def test_checks_can_be_turned_off(settings: object, engine: object) -> None:
    answer, _ = _ask(settings, engine, [ONE_ROW], result_checks=False)
    assert answer.status == "succeeded" and len(answer.attempts) == 1 and answer.suspect == []


def test_one_row_for_each_ranked_question_names_the_top_row_per_group_pattern() -> None:
    # "For each X, which Y had the most" answered by ORDER BY ... LIMIT 1: the repair gets the pattern.
    ranked = "For each region, which store had the highest total sales amount?"
    message = checks.one_row_for_each(ranked, preview(["region", "store", "amount"], [["North", "S1", 9.5]]))
    assert message is not None and "PARTITION BY region" in message and "LIMIT 1" in message
    plain = checks.one_row_for_each("How many orders per region?", preview(["region", "orders"], [["N", 3]]))
    assert plain is not None and "PARTITION BY" not in plain


def test_a_grouping_word_written_as_a_column_name_matches_that_column() -> None:
    # "For each event_type, which page had the most" answered with every (event_type, page) pair.
    question = "For each event_type, which page had the most events of that type?"
    rows = [["click", "/a", 9], ["click", "/b", 3], ["search", "/a", 5]]
    message = checks.duplicate_groups(question, preview(["event_type", "page", "n"], rows))
    assert message is not None and "event_type repeats" in message
    assert checks.matching_columns("type", preview(["event_type"], [["x"]])) == [0]
    assert checks.matching_columns("event_type", preview(["type"], [["x"]])) == []


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("How many tickets does every agent have, including agents with no tickets (count 0)?", True),
        ("For each agent, count the tickets; include agents without tickets.", True),
        ("How many open tickets does each agent have (include an agent with 0 if there is one)?", True),
        (
            "For each team, what percentage of its agents (including agents without tickets) closed one?",
            False,
        ),
        ("Rank the agents by tickets; agents without any tickets are left out.", False),
    ],
)
def test_asks_to_include_none(question: str, asks: bool) -> None:
    assert checks.asks_to_include_none(question) is asks
