"""Which selected tables generated code touches (validate/references.py): engines bind only those."""

from __future__ import annotations

import pytest

from askspark.engines.base import Job, Limits, TableBinding, only_touched
from askspark.validate.references import table_references


def code(body: str, prelude: str = "") -> str:
    return f"{prelude}def answer(spark, tables):\n" + "".join(f"    {line}\n" for line in body.splitlines())


KNOWN = {
    "sql join and subquery": (
        code(
            'return spark.sql("SELECT * FROM orders o JOIN `Nasdaq` n ON o.d = n.d '
            'WHERE o.x IN (SELECT x FROM region)")'
        ),
        {"orders", "nasdaq", "region"},
    ),
    "sql with a CTE": (
        code('return spark.sql("WITH big AS (SELECT * FROM lineitem) SELECT * FROM big")'),
        {"lineitem", "big"},  # the CTE's name is harmless: no selected table is called so
    ),
    "sql in a name assigned once": (
        code("return spark.sql(QUERY)", 'QUERY = """SELECT n_name FROM nation"""\n'),
        {"nation"},
    ),
    "sql formatting DataFrames in": (
        code('return spark.sql("SELECT * FROM {o}", o=tables["orders"])'),
        {"orders", "askspark_ref_o"},
    ),
    "sql formatting a table name in": (
        code('return spark.sql("SELECT * FROM {t} JOIN {n}", t="orders", n=tables.get("nasdaq"))'),
        {"orders", "nasdaq", "askspark_ref_t", "askspark_ref_n"},
    ),
    "dataframe lookups": (
        code(
            'a = tables["orders"]\nb = tables.get("nasdaq")\nreturn a.join(b, "d").join(tables.region, "r")'
        ),
        {"orders", "nasdaq", "region"},
    ),
    "table by qualified name": (
        code('return spark.table("northwind.orders").join(spark.read.table("nasdaq"), "d")'),
        {"northwind.orders", "orders", "nasdaq"},
    ),
    "no table at all": (code("return spark.range(3)"), set()),
    "another parameter name": ("def answer(spark, t):\n    return t['orders']\n", {"orders"}),
}

UNKNOWN = {
    "f-string": code('name = "orders"\nreturn spark.sql(f"SELECT * FROM {name}")'),
    "sql formatting a variable in": code('t = "ord" + "ers"\nreturn spark.sql("SELECT * FROM {t}", t=t)'),
    "concatenation": code('return spark.sql("SELECT * FROM " + "orders")'),
    "format call": code('return spark.sql("SELECT * FROM {}".format("orders"))'),
    "loop over tables": code("for name in tables:\n    pass\nreturn spark.range(1)"),
    "tables.items()": code("return next(iter(tables.values()))"),
    "tables passed on": code("return helper(tables)", "def helper(t):\n    return t['orders']\n\n"),
    "dynamic key": code('key = "ord" + "ers"\nreturn tables[key]'),
    "dynamic table()": code('name = "orders"\nreturn spark.table(name.upper())'),
    "catalog": code('spark.catalog.listTables()\nreturn tables["orders"]'),
    "sql under another name": code('run = spark.sql\nreturn run("SELECT * FROM orders")'),
    "getattr": code('return getattr(spark, "sql")("SELECT * FROM orders")'),
    "builtins": code('return __builtins__["eval"]("spark.sql(\'SELECT * FROM orders\')")'),
    "not a query": code('return spark.sql("SHOW TABLES")'),
    "sql that does not parse": code('return spark.sql("SELECT FROM WHERE (")'),
    "IDENTIFIER clause": code("return spark.sql(\"SELECT * FROM IDENTIFIER('orders')\")"),
    "subquery in an expression": code('return tables["a"].filter("x IN (SELECT y FROM orders)")'),
    "no answer function": "def main(spark, tables):\n    return tables['orders']\n",
    "python that does not parse": "def answer(spark, tables):\n    return (\n",
}


@pytest.mark.parametrize(("source", "expected"), KNOWN.values(), ids=KNOWN)
def test_references_read_statically(source: str, expected: set[str]) -> None:
    assert table_references(source) == expected


@pytest.mark.parametrize("source", UNKNOWN.values(), ids=UNKNOWN)
def test_undeterminable_references_bind_everything(source: str) -> None:
    assert table_references(source) is None


def binding(name: str, full_name: str) -> TableBinding:
    return TableBinding(name=name, full_name=full_name, format="parquet", location="/d", schema_ddl="x int")


def job(source: str) -> Job:
    tables = [
        binding("orders", "northwind.orders"),
        binding("nasdaq", "northwind.nasdaq"),
        binding("tpch_orders", "tpch.orders"),
    ]
    return Job(run_id="r", attempt=1, code=source, tables=tables, limits=Limits(), output_dir="/o")


def test_a_job_keeps_only_the_tables_its_code_names() -> None:
    sql = job(code('return spark.sql("SELECT * FROM NASDAQ")'))
    assert [t.name for t in only_touched(sql).tables] == ["nasdaq"]
    by_full_name = job(code('return tables["tpch.orders"]'))
    assert [t.name for t in only_touched(by_full_name).tables] == ["tpch_orders"]
    assert only_touched(job(code("return spark.range(1)"))).tables == []


def test_a_job_whose_references_are_unknown_keeps_every_table() -> None:
    dynamic = job(code("return tables[sorted(tables)[0]]"))
    assert only_touched(dynamic) is dynamic
