"""One conformance suite for every engine: the same questions, the same expectations.

Parametrized over ``engines.ENGINES``; a case an engine is known not to pass is a strict expected failure
with the engine's reason. Real engines throughout (a local Spark server, a standalone cluster on
127.0.0.1, emr-serverless against moto's API with job runs executed by spark-submit, Ray in the
sandboxed worker); the model is scripted.
"""

from __future__ import annotations

import pytest

from askspark import api
from askspark.engines.base import Engine
from askspark.llm.scripted import ScriptedLLM
from askspark.record import Answer
from askspark.settings import Settings
from engine_conformance.engines import CASES, ENGINES, EngineUnderTest

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
HEAVY = """
def answer(spark, tables):
    a = spark.range(0, 200000000).withColumnRenamed('id', 'x')
    return a.crossJoin(spark.range(0, 200000000)).selectExpr('sum(x * id) AS s')
"""
MANY_ROWS = """
def answer(spark, tables):
    return tables["nasdaq"].select("symbol", "date", "close").orderBy("symbol", "date")
"""


CODE = {"GOOD": GOOD, "WRONG_COLUMN": WRONG_COLUMN, "FIXED_COLUMN": FIXED_COLUMN, "HEAVY": HEAVY}
CODE["MANY_ROWS"] = MANY_ROWS


def fence(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


def ask(
    eut: EngineUnderTest, settings: Settings, engine: Engine, replies: list[str], **kw: object
) -> tuple[Answer, ScriptedLLM]:
    """Ask about nasdaq, the model replying with the suite's code by name (or the engine's own)."""
    llm = ScriptedLLM(replies=[fence(eut.code.get(r, CODE[r])) for r in replies])
    answer = api.ask("q", ["northwind.nasdaq"], engine=engine, model=llm, settings=settings, **kw)  # type: ignore[arg-type]
    return answer, llm


@pytest.fixture(params=[e.param() for e in ENGINES])
def under_test(request: pytest.FixtureRequest) -> EngineUnderTest:
    return request.param  # type: ignore[no-any-return]


def known_gap(request: pytest.FixtureRequest, eut: EngineUnderTest, case: str) -> None:
    assert case in CASES
    if case in eut.gaps:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"{eut.id}: {eut.gaps[case]}"))


def check_extra(
    request: pytest.FixtureRequest, eut: EngineUnderTest, case: str, answer: Answer, llm: ScriptedLLM
) -> None:
    if eut.extra is not None:
        eut.extra(case, request, answer, llm)


def used(eut: EngineUnderTest) -> str:
    return eut.expect_engine or eut.id


def test_succeeds(request: pytest.FixtureRequest, under_test: EngineUnderTest) -> None:
    known_gap(request, under_test, "succeeds")
    engine, settings = under_test.up(request), under_test.settings(request)
    answer, llm = ask(under_test, settings, engine, ["GOOD"])
    assert answer.status == "succeeded", [(a.engine, a.error) for a in answer.attempts]
    assert len(answer.attempts) == 1 and answer.attempts[0].stage == "execute"
    assert answer.engine_used == used(under_test) and answer.attempts[0].engine == used(under_test)
    assert [c.name for c in answer.result.columns] == ["symbol", "avg_close"]
    closes = [row[1] for row in answer.result.rows]
    assert len(closes) == 6 and closes == sorted(closes, reverse=True)
    assert under_test.full_rows(request, answer.result.location) == 6
    check_extra(request, under_test, "succeeds", answer, llm)


def test_repairs(request: pytest.FixtureRequest, under_test: EngineUnderTest) -> None:
    known_gap(request, under_test, "repairs")
    engine, settings = under_test.up(request), under_test.settings(request)
    answer, llm = ask(under_test, settings, engine, ["WRONG_COLUMN", "FIXED_COLUMN"])
    assert answer.status == "succeeded", [(a.engine, a.error) for a in answer.attempts]
    first = answer.attempts[0]
    assert first.error.kind == "unresolved_column" and first.stage == "dry_run"
    assert "closing_price" in llm.calls[1].messages[-1].content  # the error went back to the model
    assert [row[0] for row in answer.result.rows] == sorted(row[0] for row in answer.result.rows)
    check_extra(request, under_test, "repairs", answer, llm)


def test_times_out(request: pytest.FixtureRequest, under_test: EngineUnderTest) -> None:
    known_gap(request, under_test, "times_out")
    engine, settings = under_test.up(request), under_test.settings(request)
    slow = settings.model_copy(update={"timeout_seconds": under_test.timeout_seconds, "max_attempts": 1})
    answer, llm = ask(under_test, slow, engine, ["HEAVY"])
    assert answer.status == "failed" and answer.attempts[0].error.kind == "timeout"
    again, _ = ask(under_test, settings, engine, ["GOOD"])  # the work was interrupted: the engine answers
    assert again.status == "succeeded", [(a.engine, a.error) for a in again.attempts]
    check_extra(request, under_test, "times_out", answer, llm)


def test_truncates(request: pytest.FixtureRequest, under_test: EngineUnderTest) -> None:
    known_gap(request, under_test, "truncates")
    engine, settings = under_test.up(request), under_test.settings(request)
    answer, llm = ask(under_test, settings, engine, ["MANY_ROWS"], row_limit=5)
    assert answer.status == "succeeded", [(a.engine, a.error) for a in answer.attempts]
    assert answer.result.truncated and len(answer.result.rows) == 5 and answer.result.row_count is None
    assert under_test.full_rows(request, answer.result.location) > 5  # the full result is where it says
    check_extra(request, under_test, "truncates", answer, llm)


def test_down_is_unavailable(request: pytest.FixtureRequest, under_test: EngineUnderTest) -> None:
    known_gap(request, under_test, "down_is_unavailable")
    engine, settings = under_test.down(request), under_test.settings(request)
    answer, llm = ask(under_test, settings, engine, ["GOOD", "GOOD", "GOOD"])
    assert answer.status == "failed" and len(answer.attempts) == 1 and len(llm.calls) == 1
    assert answer.error.kind == "engine_unavailable" and not answer.error.kind.fixable
    assert "cannot be fixed by new code" in (answer.stop_reason or "")


def test_every_case_is_in_the_suite() -> None:
    tests = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert set(CASES) <= tests
    for eut in ENGINES:
        assert set(eut.gaps) <= set(CASES), f"{eut.id} marks an unknown case"
