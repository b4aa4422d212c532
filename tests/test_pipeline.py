"""The core slice end to end: real Spark (local engine, sandboxed workers), scripted model."""

from __future__ import annotations

from pathlib import Path

import pytest

from askspark import api
from askspark.engines.base import Engine, Execution, Job
from askspark.errors import NotFoundError, UsageError
from askspark.llm.scripted import ScriptedLLM
from askspark.settings import Settings

pytestmark = pytest.mark.slow

GOOD = """
from pyspark.sql import functions as F

def answer(spark, tables):
    df = tables["nasdaq"]
    return (df.where(F.year("date") == 2024).groupBy("symbol")
              .agg(F.round(F.avg("close"), 2).alias("avg_close")).orderBy(F.desc("avg_close")))
"""

WRONG_COLUMN = """
def answer(spark, tables):
    return spark.sql("SELECT symbol, AVG(closing_price) AS avg_close FROM nasdaq GROUP BY symbol")
"""

FIXED_COLUMN = """
def answer(spark, tables):
    return spark.sql("SELECT symbol, AVG(close) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY symbol")
"""


class SpyEngine(Engine):
    """Counts the jobs that reach the real engine (to prove validation stops code before it runs)."""

    def __init__(self, engine: object) -> None:
        self.inner, self.jobs, self.id = engine, [], "local"

    def run(self, job: Job) -> Execution:
        self.jobs.append(job)
        return self.inner.run(job)  # type: ignore[attr-defined]

    def close(self) -> None: ...


def fence(code: str) -> str:
    return f"Here you go:\n```python\n{code.strip()}\n```\n"


def ask(settings: Settings, engine: object, replies: list[str], question: str = "q", **kw: object):
    llm = ScriptedLLM(replies=[fence(r) if "def answer" in r else r for r in replies])
    spy = SpyEngine(engine)
    tables = kw.pop("tables", ["northwind.nasdaq"])
    answer = api.ask(question, tables, engine=spy, model=llm, settings=settings, **kw)  # type: ignore[arg-type]
    return answer, llm, spy


def test_right_on_the_first_try(settings: Settings, engine: object) -> None:
    answer, _, spy = ask(settings, engine, [GOOD], "Average close per symbol in 2024?")
    assert answer.status == "succeeded"
    assert len(answer.attempts) == 1 and answer.attempts[0].stage == "execute"
    assert [c.name for c in answer.result.columns] == ["symbol", "avg_close"]
    assert len(answer.result.rows) == 6 and not answer.result.truncated
    closes = [row[1] for row in answer.result.rows]
    assert closes == sorted(closes, reverse=True)
    assert Path(answer.result.location).is_dir() and Path(answer.result.location).is_relative_to(
        settings.runs_dir
    )
    assert "6 rows" in answer.summary and len(spy.jobs) == 1


def test_wrong_column_is_repaired_with_the_error_in_the_second_prompt(
    settings: Settings, engine: object
) -> None:
    answer, llm, _ = ask(settings, engine, [WRONG_COLUMN, FIXED_COLUMN])
    assert answer.status == "succeeded" and len(answer.attempts) == 2
    first = answer.attempts[0]
    assert first.stage == "dry_run" and first.error.kind == "unresolved_column"
    assert "JVM stacktrace" not in first.error.message
    second_prompt = "\n".join(m.content for m in llm.calls[1].messages)
    assert "closing_price" in second_prompt and "unresolved_column" in second_prompt
    assert "close" in (first.error.suggestion or first.error.message)


def test_syntax_and_policy_errors_are_caught_without_executing(settings: Settings, engine: object) -> None:
    syntax = "def answer(spark, tables):\n    return tables['nasdaq'].select('close'"
    policy = "import os\n\ndef answer(spark, tables):\n    os.system('touch /tmp/pwned')\n    return tables['nasdaq']"
    answer, _, spy = ask(settings, engine, [syntax, policy, GOOD])
    kinds = [a.error.kind if a.error else None for a in answer.attempts]
    assert kinds == ["syntax", "policy", None]
    assert [a.stage for a in answer.attempts[:2]] == ["validate", "validate"]
    assert answer.attempts[1].error.rule and answer.attempts[0].error.line
    assert len(spy.jobs) == 1  # only the good code reached the engine


def test_attempt_limit_reached_records_every_attempt(settings: Settings, engine: object) -> None:
    bad = [
        f"def answer(spark, tables):\n    return spark.sql('SELECT nope_{i} FROM nasdaq')" for i in range(3)
    ]
    answer, _, _ = ask(settings, engine, bad, max_attempts=3)
    assert answer.status == "failed" and len(answer.attempts) == 3
    assert "limit of 3 attempts" in answer.stop_reason
    assert answer.code == bad[2].strip() or "nope_2" in answer.code
    stored = api.store_for(settings).get(answer.run_id)
    assert stored.status == "failed" and [a.number for a in stored.attempts] == [1, 2, 3]
    assert all(a.code and a.error for a in stored.attempts)
    assert "nope_2" in answer.summary


def test_same_error_twice_stops_early(settings: Settings, engine: object) -> None:
    same = "def answer(spark, tables):\n    return spark.sql('SELECT missing_col FROM nasdaq')"
    answer, _, _ = ask(settings, engine, [same, same, same, same, same])
    assert len(answer.attempts) == 2 and answer.stop_reason == "the same error came back twice"
    # a column no selected table has, twice: the data cannot answer it as asked (clarify_from_errors)
    assert answer.status == "needs_clarification" and answer.clarification is not None
    assert answer.clarification.missing == "there is no column `missing_col` in the selected tables"


def test_truncated_when_rows_exceed_the_limit(settings: Settings, engine: object) -> None:
    code = "def answer(spark, tables):\n    return tables['orders'].select('order_id', 'country')"
    answer, _, _ = ask(settings, engine, [code], tables=["northwind.orders"], row_limit=7)
    assert answer.status == "succeeded"
    assert answer.result.truncated and len(answer.result.rows) == 7
    import pyarrow.parquet as pq

    full = pq.read_table(answer.result.location)
    orders = api.select_tables(["northwind.orders"], [], settings)[0]
    assert full.num_rows == orders.row_count > 7


def test_only_the_tables_the_code_touches_are_bound(settings: Settings, engine: object) -> None:
    """A selected table the code never names is bound neither for the dry run nor the execution. The
    observable: a table that cannot be bound (a type Spark does not know) fails exactly the attempts
    that bind it, at the dry run; the code that does not touch it succeeds."""
    from askspark.catalog.base import Column

    nasdaq = api.select_tables(["northwind.nasdaq"], [], settings)[0]
    unbindable = [Column(name="x", type="no_such_type")]
    ghost = nasdaq.model_copy(update={"database": "broken", "name": "ghost", "columns": unbindable})
    selected = [nasdaq, ghost]
    answer, _, _ = ask(settings, engine, [FIXED_COLUMN], tables=selected, max_attempts=1)
    assert answer.status == "succeeded", answer.attempts[-1].error
    assert len(answer.result.rows) == 6
    touching = "def answer(spark, tables):\n    return tables['ghost']"
    unknown = "def answer(spark, tables):\n    return list(tables.values())[0]"  # every table bound
    for code in (touching, unknown):
        answer, _, _ = ask(settings, engine, [code], tables=selected, max_attempts=1)
        attempt = answer.attempts[0]
        assert answer.status == "failed" and attempt.stage == "dry_run", code
        assert "no_such_type" in attempt.error.message.lower(), attempt.error


def test_ad_hoc_csv_file(settings: Settings, engine: object, tmp_path: Path) -> None:
    csv = tmp_path / "Team Scores.csv"
    csv.write_text("team,score,played_on\nred,3,2024-01-05\nblue,5,2024-01-06\nred,4,2024-02-01\n")
    code = "def answer(spark, tables):\n    return spark.sql('SELECT team, SUM(score) AS total FROM team_scores GROUP BY team ORDER BY team')"
    llm = ScriptedLLM(replies=[fence(code)])
    answer = api.ask("total per team", files=[csv], engine=SpyEngine(engine), model=llm, settings=settings)
    assert answer.status == "succeeded", answer.attempts[-1].error
    assert answer.result.rows == [["blue", 5], ["red", 7]]
    prompt = llm.calls[0].messages[-1].content
    assert "team_scores" in prompt and "played_on" in prompt


def test_unknown_table_names_the_available_ones(settings: Settings) -> None:
    with pytest.raises(NotFoundError) as info:
        api.select_tables(["northwind.nasdak"], [], settings)
    text = f"{info.value.message} {info.value.suggestion}"
    assert "nasdak" in text and "nasdaq" in text


def test_no_selection_is_a_usage_error_listing_tables(settings: Settings) -> None:
    with pytest.raises(UsageError) as info:
        api.select_tables([], [], settings)
    assert "northwind.orders" in info.value.suggestion


def test_timeout_fails_cleanly_and_the_next_question_works(settings: Settings, engine: object) -> None:
    endless = "def answer(spark, tables):\n    n = 0\n    while n >= 0:\n        n += 1\n    return tables['nasdaq']"
    slow = settings.model_copy(update={"timeout_seconds": 5.0, "max_attempts": 1})
    answer, _, _ = ask(slow, engine, [endless])
    assert answer.status == "failed" and answer.attempts[0].error.kind == "timeout"
    assert answer.attempts[0].seconds < 30
    again, _, _ = ask(settings, engine, [GOOD])
    assert again.status == "succeeded"


def test_spark_job_timeout_interrupts_the_spark_work(settings: Settings, engine: object) -> None:
    heavy = (
        "def answer(spark, tables):\n"
        "    a = spark.range(0, 200000000).withColumnRenamed('id', 'x')\n"
        "    return a.crossJoin(spark.range(0, 200000000)).selectExpr('sum(x * id) AS s')"
    )
    slow = settings.model_copy(update={"timeout_seconds": 5.0, "max_attempts": 1})
    answer, _, _ = ask(slow, engine, [heavy])
    assert answer.attempts[0].error.kind == "timeout"
    again, _, _ = ask(settings, engine, [GOOD])
    assert again.status == "succeeded" and again.attempts[0].seconds < 30
