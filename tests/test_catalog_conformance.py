"""Catalog conformance: every catalog answers the same checks about the same small shop.

To add a catalog, write a builder in tests/catalog_cases.py and add it to ``BUILDERS``; every check
here then runs against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from askspark import api
from askspark.catalog import all_tables, resolve_table
from askspark.errors import NotFoundError
from askspark.llm.scripted import ScriptedLLM
from catalog_cases import (
    AMOUNT_COMMENT,
    BUILDERS,
    CUSTOMERS,
    CUSTOMERS_COMMENT,
    ORDERS,
    ORDERS_COMMENT,
    YEAR_COMMENT,
    CatalogCase,
)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogCase]:
    yield BUILDERS[request.param](request, tmp_path_factory.mktemp(f"catalog-{request.param}"))


def test_lists_databases_and_tables(case: CatalogCase) -> None:
    catalog = case.catalog
    assert "shop" in catalog.list_databases()
    assert catalog.list_tables("shop") == ["customers", "orders"]


def test_describe_returns_the_full_definition(case: CatalogCase) -> None:
    orders = case.catalog.describe("shop", "orders")
    types = {c.name: c.type for c in orders.columns}
    assert types == {"order_id": "bigint", "customer_id": "bigint", "amount": "double", "year": "int"}
    comments = {c.name: c.comment for c in orders.columns}
    assert comments["amount"] == AMOUNT_COMMENT and comments["year"] == YEAR_COMMENT
    assert orders.comment == ORDERS_COMMENT
    assert orders.format == case.orders_format
    assert_row_count(case, orders.row_count, len(ORDERS))
    if case.location_is_dir:
        assert Path(orders.location).is_dir()
    if case.partitioned:
        assert orders.partition_columns == ["year"]

    customers = case.catalog.describe("shop", "customers")
    assert [c.name for c in customers.columns] == ["customer_id", "name", "country"]
    assert customers.format == case.customers_format
    assert customers.comment == CUSTOMERS_COMMENT
    assert_row_count(case, customers.row_count, len(CUSTOMERS))
    if case.samples:
        countries = next(c.samples for c in customers.columns if c.name == "country")
        assert countries and set(countries) <= {c[2] for c in CUSTOMERS}  # sample values, for the model


def assert_row_count(case: CatalogCase, found: int | None, rows: int) -> None:
    if case.exact_row_counts:
        assert found == rows
    else:
        assert found is None or found >= 0


def test_unknown_names_are_not_found_with_a_suggestion(case: CatalogCase) -> None:
    with pytest.raises(NotFoundError) as table:
        case.catalog.describe("shop", "order")
    assert "did you mean 'shop.orders'" in (table.value.suggestion or "")
    with pytest.raises(NotFoundError) as database:
        case.catalog.list_tables("shopp")
    assert "did you mean 'shop'" in (database.value.suggestion or "")


def test_names_resolve_with_a_catalog_prefix(case: CatalogCase) -> None:
    info = resolve_table(case.name("orders"), case.settings.model_copy(update={"catalog": "local"}))
    assert (info.catalog, info.full_name) == (case.id, "shop.orders")
    assert info.qualified_name == case.name("orders")
    assert {t.full_name for t in all_tables(case.catalog)} >= {"shop.orders", "shop.customers"}


JOIN = """```sql
SELECT c.country, o.year, SUM(o.amount) AS total
FROM orders o JOIN customers c ON o.customer_id = c.customer_id
GROUP BY c.country, o.year
ORDER BY c.country, o.year
```"""


def expected_join() -> list[list[object]]:
    country = {c[0]: c[2] for c in CUSTOMERS}
    totals: dict[tuple[str, int], float] = {}
    for _, customer, amount, year in ORDERS:
        key = (country[customer], year)
        totals[key] = totals.get(key, 0.0) + amount
    return [[k[0], k[1], v] for k, v in sorted(totals.items())]


def test_a_question_is_answered_on_the_local_engine(case: CatalogCase, engine: object) -> None:
    answer = api.ask(
        "Total order amount per country and year?",
        [case.name("orders"), case.name("customers")],
        engine=engine,  # type: ignore[arg-type]
        model=ScriptedLLM(replies=[JOIN]),
        settings=case.settings,
    )
    assert answer.succeeded, answer.error
    assert answer.result is not None and answer.result.rows == expected_join()
    assert answer.tables == [case.name("orders"), case.name("customers")]


def test_tables_are_chosen_by_the_question(case: CatalogCase, engine: object) -> None:
    llm = ScriptedLLM(replies=[JOIN])
    answer = api.ask(
        "What is the total order amount by customer country and year?",
        engine=engine,  # type: ignore[arg-type]
        model=llm,
        settings=case.settings,
    )
    assert answer.succeeded, answer.error
    assert {c.table for c in answer.chosen_tables} == {case.name("orders"), case.name("customers")}
    assert all(c.reason.startswith("matched ") for c in answer.chosen_tables)
    assert answer.result is not None and answer.result.rows == expected_join()
