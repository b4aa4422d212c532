"""The development datasets ``events`` and ``retail`` and their suites: deterministic generation, honest
questions (split, pattern tags, every constant stated), and references that score 100% on real Spark."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from askspark.catalog.devsets import DATASETS, generate
from askspark.catalog.local import LocalCatalog
from askspark.evals.suite import Question, load_suite
from askspark.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SUITES = {"events": ROOT / "suites" / "events.jsonl", "retail": ROOT / "suites" / "retail.jsonl"}
TABLES = {"events": ["events", "users"], "retail": ["customers", "products", "sales", "stores"]}
SPLITS = {"tune", "heldout"}
PATTERNS = {"join", "window", "top-per-group", "date", "percentile", "literal", "nulls", "multi-step", "aggregate",
            "filter"}  # fmt: skip
HARD = {"join", "window", "top-per-group", "percentile"}
# A number compared with a threshold or the N of a top N: the question must state it.
THRESHOLD = re.compile(r"(?:[<>]=?|LIMIT)\s*(\d+(?:\.\d+)?)")


def _digests(settings: Settings, database: str) -> dict[str, str]:
    root = settings.warehouse / database
    return {t: hashlib.sha256((root / t / "data.parquet").read_bytes()).hexdigest() for t in TABLES[database]}


def _generates_the_same_bytes_twice(tmp_path: Path, database: str) -> None:
    first, second = Settings(home=tmp_path / "a"), Settings(home=tmp_path / "b")
    infos = generate(database, first)
    generate(database, second)
    assert _digests(first, database) == _digests(second, database)
    assert sorted(i.name for i in infos) == TABLES[database]
    catalog = LocalCatalog(first)
    assert catalog.list_tables(database) == TABLES[database]
    for name in TABLES[database]:
        table = catalog.describe(database, name)
        assert table.comment and all(c.comment for c in table.columns), (database, name)


def _missing_constants(q: Question) -> list[str]:
    """Quoted literals (as the TPC-H suite test checks) and thresholds of the reference absent from the question."""
    code = q.reference or ""
    literals = re.findall(r"'([^']*)'", code) + THRESHOLD.findall(code)
    return [lit for lit in literals if lit.strip("%") not in q.question and lit != "1"]


def _check_suite(database: str, minimum: int) -> list[Question]:
    questions = load_suite(SUITES[database])
    assert len(questions) >= minimum
    for q in questions:
        assert q.reference and "def answer(spark, tables)" in q.reference, q.id
        assert len(SPLITS & set(q.tags)) == 1, (q.id, q.tags)
        assert set(q.tags) - SPLITS <= PATTERNS and set(q.tags) & PATTERNS, (q.id, q.tags)
        assert all(t.split(".")[0] == database and t.split(".")[1] in TABLES[database] for t in q.tables), (
            q.id
        )
        assert not _missing_constants(q), (q.id, _missing_constants(q))
    tune = sum("tune" in q.tags for q in questions)
    assert len(questions) / 4 <= tune <= len(questions) / 2.5, "about a third of the questions tune"
    assert sum(bool(HARD & set(q.tags)) for q in questions) >= 0.4 * len(questions)
    return questions


def test_events_and_retail_are_registered_datasets() -> None:
    assert DATASETS["events"] == "askspark.catalog.devsets.events:generate"
    assert DATASETS["retail"] == "askspark.catalog.devsets.retail:generate"


def test_events_generation_is_deterministic_and_commented(tmp_path: Path) -> None:
    _generates_the_same_bytes_twice(tmp_path, "events")


def test_retail_generation_is_deterministic_and_commented(tmp_path: Path) -> None:
    _generates_the_same_bytes_twice(tmp_path, "retail")


def test_events_data_has_what_the_questions_rely_on(tmp_path: Path) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    settings = Settings(home=tmp_path)
    generate("events", settings)
    events = pq.read_table(settings.warehouse / "events" / "events" / "data.parquet")
    users = pq.read_table(settings.warehouse / "events" / "users" / "data.parquet")
    assert events.num_rows == 20_000 and users.num_rows == 800
    assert (
        "USA" in users.column("country").to_pylist()
        and "United States" not in users.column("country").to_pylist()
    )
    # Unique timestamps (one "first event" per user), users without events, nulls where documented.
    assert pc.count_distinct(events.column("ts")).as_py() == events.num_rows
    assert pc.count_distinct(events.column("user_id")).as_py() < users.num_rows
    purchases = events.filter(pc.equal(events.column("event_type"), "purchase"))
    assert 0 < purchases.column("revenue").null_count < purchases.num_rows
    assert (
        events.column("revenue").null_count
        == events.num_rows - purchases.num_rows + purchases.column("revenue").null_count
    )


def test_retail_data_has_what_the_questions_rely_on(tmp_path: Path) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    settings = Settings(home=tmp_path)
    generate("retail", settings)
    root = settings.warehouse / "retail"
    sales, products = (pq.read_table(root / t / "data.parquet") for t in ("sales", "products"))
    customers = pq.read_table(root / "customers" / "data.parquet")
    # The mixed join keys, and columns that only a dimension holds.
    assert {"product_id", "storeId", "cust_key"} <= set(sales.column_names)
    assert "id" in products.column_names and "category" not in sales.column_names
    sold = set(sales.column("product_id").to_pylist())
    assert len(set(products.column("id").to_pylist()) - sold) == 3, "three products were never sold"
    assert 0 < sales.column("cust_key").null_count < sales.num_rows / 5
    assert 0 < customers.column("loyalty_tier").null_count < customers.num_rows
    assert (
        pc.min(sales.column("sale_date")).as_py().year
        == pc.max(sales.column("sale_date")).as_py().year
        == 2024
    )


def test_events_suite_is_tagged_and_states_every_constant() -> None:
    _check_suite("events", 39)


def test_retail_suite_is_tagged_and_states_every_constant() -> None:
    _check_suite("retail", 39)


def test_events_and_retail_constant_check_catches_an_unstated_value() -> None:
    """The check above can fail: a threshold or a spelling the question does not give is reported."""
    reference = (
        "def answer(spark, tables):\n    return spark.sql(\"SELECT * FROM t WHERE c = 'USA' AND n > 180\")\n"
    )
    question = Question(id="x", question="Rows of the United States above the usual level?", tables=["events.users"],
                        reference=reference)  # fmt: skip
    assert _missing_constants(question) == ["USA", "180"]


@pytest.mark.slow
@pytest.mark.parametrize("database", ["events", "retail"])
def test_events_and_retail_references_score_everything_on_real_spark(
    database: str, settings: Settings, request: pytest.FixtureRequest
) -> None:
    from askspark.evals.run import EvalRun

    if database not in LocalCatalog(settings).list_databases():
        generate(database, settings)
    request.getfixturevalue("engine")
    questions = load_suite(SUITES[database])
    report = EvalRun(settings=settings, model="reference", engine="local").run(
        questions, suite=str(SUITES[database])
    )
    failed = [
        r.model_dump(include={"id", "failure_kind", "reason", "last_error"})
        for r in report.results
        if not r.correct
    ]
    assert report.summary.execution_accuracy == 1.0, failed
    assert all(r.expected_rows for r in report.results), "every reference returns rows"
