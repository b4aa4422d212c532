"""The answer a person reads, end to end on real Spark: the chart spec, the written answer (kept only when
grounded in the result, never under privacy=schema), and ``ask --chart`` writing SVG and PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from askspark import api
from askspark.interfaces.cli import app
from askspark.llm.base import Message
from askspark.llm.scripted import ScriptedLLM
from askspark.settings import Settings

pytestmark = pytest.mark.slow

CODE = """```python
def answer(spark, tables):
    return spark.sql("SELECT symbol, ROUND(AVG(close), 2) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY avg_close DESC")
```"""
QUESTION = "Which symbol had the highest average close?"


def writer(wrong: bool = False) -> ScriptedLLM:
    """A scripted model: the code first, then a sentence from the result rows it is shown (the first
    row's close, or that number plus 1000 when ``wrong``)."""

    def reply(messages: list[Message], temperature: float) -> str:
        if "Result (" not in messages[-1].content:
            return CODE
        first = json.loads(messages[-1].content.split("```json\n")[1].splitlines()[0])
        close = first["avg_close"] + (1000 if wrong else 0)
        return f"{first['symbol']} had the highest average close, at {close:.2f}."

    return ScriptedLLM(fn=reply)


def ask(settings: Settings, llm: ScriptedLLM, **changes: object):  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={"written_answer": True, **changes})
    return api.ask(QUESTION, ["northwind.nasdaq"], model=llm, settings=s)


def test_grounded_written_answer_and_chart(settings: Settings, engine: object) -> None:
    llm = writer()
    answer = ask(settings, llm)
    assert answer.succeeded and answer.summary_source == "model" and len(llm.calls) == 2
    top = answer.result.rows[0]
    assert answer.summary == f"{top[0]} had the highest average close, at {top[1]:.2f}."
    assert "written_answer" in answer.timings
    chart = answer.chart
    assert chart is not None and chart["mark"]["type"] == "bar" and len(chart["data"]["values"]) == 6
    assert chart["encoding"]["y"]["title"] == "symbol" and chart["encoding"]["x"]["title"] == "avg_close"


def test_a_wrong_number_falls_back_to_the_deterministic_summary(settings: Settings, engine: object) -> None:
    answer = ask(settings, writer(wrong=True))
    assert answer.succeeded and answer.summary_source == "deterministic"
    assert answer.summary.startswith("6 rows") and any("not in the result" in n for n in answer.notices)


def test_privacy_schema_sends_no_result_value_to_the_model(settings: Settings, engine: object) -> None:
    llm = writer()
    answer = ask(settings, llm, privacy="schema")
    assert answer.succeeded and answer.summary_source == "deterministic" and len(llm.calls) == 1


def test_ask_chart_writes_svg_and_png(settings: Settings, engine: object, tmp_path: Path) -> None:
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps([CODE, CODE]))
    for name in ("answer.svg", "answer.png"):
        path = tmp_path / name
        result = CliRunner().invoke(
            app,
            [
                "ask",
                QUESTION,
                "--table",
                "northwind.nasdaq",
                "--model",
                f"scripted:{replies}",
                "--chart",
                str(path),
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        assert path.stat().st_size > 1000, name
    assert (tmp_path / "answer.svg").read_text().startswith("<svg")
    assert (tmp_path / "answer.png").read_bytes().startswith(b"\x89PNG")


def test_ask_chart_refuses_an_unknown_format_before_running(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ask", "q", "--chart", str(tmp_path / "c.gif")])
    assert result.exit_code != 0 and "html, .svg or .png" in result.output
