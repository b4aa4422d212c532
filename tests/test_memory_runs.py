"""Verified answers and follow-up questions through real runs (issue 13): real Spark, scripted model.

Verified answers are global to a run store, so every test here takes its verifications back: the
other tests of the session ask about the same sample tables.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from askspark import api
from askspark.context.prompt import TURNS_HEADER, WORKED_HEADER
from askspark.interfaces.cli import app
from askspark.llm.scripted import ScriptedLLM
from askspark.record import Answer
from askspark.runs import memory
from askspark.settings import Settings
from live_server import LiveServer, script, sql

pytestmark = pytest.mark.slow

PER_COUNTRY = sql("SELECT country, COUNT(*) AS orders FROM orders GROUP BY country ORDER BY country")
PER_COUNTRY_2024 = sql(
    "SELECT country, COUNT(*) AS orders FROM orders WHERE year(order_date) = 2024 GROUP BY country ORDER BY country"
)
PER_COUNTRY_PRODUCT = sql(
    "SELECT country, product, COUNT(*) AS orders FROM orders WHERE year(order_date) = 2024 "
    "GROUP BY country, product ORDER BY country, product"
)
TURNS = (
    ("How many orders were there per country?", PER_COUNTRY),
    ("Now only for 2024", PER_COUNTRY_2024),
    ("And split that by product", PER_COUNTRY_PRODUCT),
)


@pytest.fixture
def verified(settings: Settings) -> Iterator[list[str]]:
    """Run ids a test verified: taken back afterwards, whatever happened."""
    ids: list[str] = []
    yield ids
    store = api.store_for(settings)
    for run_id in ids:
        store.unverify(run_id)


def ask(question: str, llm: ScriptedLLM, settings: Settings, engine: Any, **options: Any) -> Answer:
    return api.ask(question, model=llm, engine=engine, settings=settings, **options)


def test_a_verified_answer_is_replayed_and_an_unverified_one_never(
    settings: Settings, engine: Any, verified: list[str]
) -> None:
    question, orders = TURNS[0][0], ["northwind.orders"]
    first = ask(question, ScriptedLLM([PER_COUNTRY], style="sql"), settings, engine, tables=orders)
    assert first.succeeded, first.error
    # Not verified: the very same words go to the model again.
    model = ScriptedLLM([PER_COUNTRY], style="sql")
    again = ask(question, model, settings, engine, tables=orders)
    assert len(model.calls) == 1 and not again.verified and again.verified_run is None

    memory.verify(api.store_for(settings), first.run_id, settings)
    verified.append(first.run_id)
    silent = ScriptedLLM([], style="sql")  # any call is a provider error
    replay = ask("Show me the number of orders for each country", silent, settings, engine, tables=orders)
    assert replay.succeeded and replay.verified and replay.verified_run == first.run_id
    assert silent.calls == [] and replay.code == first.code
    assert replay.result is not None and first.result is not None and replay.result.rows == first.result.rows
    assert any(f"verified answer of run {first.run_id}" in n for n in replay.notices)
    assert api.store_for(settings).get(replay.run_id).verified  # recorded like any run

    # Like it but not the same (a year more): generated, with the verified answer as a worked example.
    model = ScriptedLLM([PER_COUNTRY_2024], style="sql")
    similar = ask("How many orders were there per country in 2024?", model, settings, engine, tables=orders)
    assert similar.succeeded and not similar.verified and similar.verified_examples == [first.run_id]
    prompt = model.calls[0].messages[-1].content
    assert WORKED_HEADER in prompt and f"Question: {question}" in prompt

    memory.unverify(api.store_for(settings), first.run_id)
    model = ScriptedLLM([PER_COUNTRY], style="sql")
    taken_back = ask(question, model, settings, engine, tables=orders)
    assert len(model.calls) == 1 and not taken_back.verified


def write_sales(directory: Path, region_column: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table({region_column: ["north", "south", "north"], "amount": [10.0, 5.0, 7.0]})
    pq.write_table(table, directory / "part-0.parquet")


def test_a_schema_change_that_breaks_a_verified_answer_falls_back_to_the_model(
    settings: Settings, engine: Any, verified: list[str]
) -> None:
    from askspark.catalog.local import LocalCatalog

    # Under uploads/: the sandboxed Spark server reads it already, so no restart.
    data = settings.home / "uploads" / "memory_sales"
    write_sales(data, "region")
    LocalCatalog(settings).add("uploads", "memory_sales", data)
    question, tables = "Total amount per region", ["uploads.memory_sales"]
    by_region = sql("SELECT region, SUM(amount) AS total FROM memory_sales GROUP BY region ORDER BY region")
    first = ask(question, ScriptedLLM([by_region], style="sql"), settings, engine, tables=tables)
    assert first.succeeded, first.error
    memory.verify(api.store_for(settings), first.run_id, settings)
    verified.append(first.run_id)

    write_sales(data, "area")  # the column is renamed: the verified code no longer resolves
    LocalCatalog(settings).add("uploads", "memory_sales", data)
    by_area = sql("SELECT area AS region, SUM(amount) AS total FROM memory_sales GROUP BY area ORDER BY area")
    model = ScriptedLLM([by_area], style="sql")
    after = ask(question, model, settings, engine, tables=tables)
    assert after.succeeded and not after.verified and after.verified_run == first.run_id
    assert len(model.calls) == 1 and "area" in (after.code or "")
    assert [a.number for a in after.attempts] == [1]  # the failed replay is not an attempt
    assert any("no longer runs (its tables changed)" in n for n in after.notices)
    assert after.result is not None and after.result.rows == [["north", 17.0], ["south", 5.0]]


def assert_three_turns(answers: list[Answer], prompts: list[str]) -> None:
    """Each turn a full run following the one before, on the first turn's tables, with the earlier
    questions and their code in its prompt."""
    first, second, third = answers
    assert all(a.succeeded for a in answers), [a.error for a in answers]
    assert (second.follow_up_of, third.follow_up_of) == (first.run_id, second.run_id)
    assert first.conversation_id is None and second.conversation_id == third.conversation_id == first.run_id
    assert first.tables == second.tables == third.tables == ["northwind.orders"]
    assert TURNS_HEADER not in prompts[0]
    assert (
        f"Question 1: {TURNS[0][0]}" in prompts[1]
        and "year(order_date)" not in prompts[1].split("Question:")[0]
    )
    assert f"Question 1: {TURNS[0][0]}" in prompts[2] and f"Question 2: {TURNS[1][0]}" in prompts[2]
    assert "WHERE year(order_date) = 2024 GROUP BY country ORDER BY country" in prompts[2]
    assert prompts[2].rstrip().endswith(f"Question: {TURNS[2][0]}")


def test_a_three_turn_conversation_from_python(settings: Settings, engine: Any) -> None:
    model = ScriptedLLM([reply for _, reply in TURNS], style="sql")
    answers: list[Answer] = []
    for question, _ in TURNS:
        options: dict[str, Any] = (
            {"follow_up": answers[-1].run_id} if answers else {"tables": ["northwind.orders"]}
        )
        answers.append(ask(question, model, settings, engine, **options))
    assert_three_turns(answers, [c.messages[-1].content for c in model.calls])
    stored = api.store_for(settings).get(answers[2].run_id)
    assert stored.follow_up_of == answers[1].run_id  # each turn has its own record


def test_a_three_turn_conversation_from_the_cli(settings: Settings, engine: object, tmp_path: Path) -> None:
    model = script(tmp_path / "cli.json", [reply for _, reply in TURNS])
    runner, answers = CliRunner(), []
    for question, _ in TURNS:
        args = ["ask", question, "--model", model, "--json"]
        args += ["--follow-up", answers[-1].run_id] if answers else ["--table", "northwind.orders"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        answers.append(Answer.model_validate_json(result.output))
    calls = api.llm_for(model, settings).calls  # type: ignore[attr-defined]
    assert_three_turns(answers, [c.messages[-1].content for c in calls])


@pytest.fixture
def live(settings: Settings, engine: object, tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    model = script(tmp_path / "http.json", [reply for _, reply in TURNS])
    server = LiveServer(settings.model_copy(update={"model": model}))
    yield server, model
    server.stop()


def test_a_three_turn_conversation_over_http_and_its_errors(
    settings: Settings, live: tuple[LiveServer, str], verified: list[str]
) -> None:
    server, model = live
    answers: list[Answer] = []
    with httpx.Client(base_url=server.url, timeout=180) as client:
        for question, _ in TURNS:
            body: dict[str, Any] = {"question": question}
            body |= {"conversation_id": answers[0].run_id} if answers else {"tables": ["northwind.orders"]}
            response = client.post("/v1/ask", json=body)
            assert response.status_code == 200, response.text
            answers.append(Answer.model_validate(response.json()))
        calls = api.llm_for(model, settings).calls  # type: ignore[attr-defined]
        assert_three_turns(answers, [c.messages[-1].content for c in calls])

        unknown = client.post("/v1/ask", json={"question": "and by year?", "conversation_id": "nope"})
        assert_error(unknown, 404, "not_found")
        both = {"question": "q", "conversation_id": answers[0].run_id, "follow_up": answers[0].run_id}
        assert_error(client.post("/v1/ask", json=both), 400, "usage")
        assert_error(client.post("/v1/runs/nope/verify"), 404, "not_found")
        ok = client.post(f"/v1/runs/{answers[0].run_id}/verify")
        verified.append(answers[0].run_id)
        assert ok.status_code == 200 and ok.json()["verified"] is True
        assert client.delete(f"/v1/runs/{answers[0].run_id}/verify").json()["verified"] is False
        assert_error(client.delete(f"/v1/runs/{answers[0].run_id}/verify"), 400, "usage")


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["suggestion"]


def _on_a_terminal(command: list[str], env: dict[str, str], fdspawn: Any) -> tuple[Any, Any]:
    """Start `command` on a new pseudo terminal (50x200) and read it with pexpect.

    pexpect.spawn forks this test process, which holds Spark Connect's gRPC threads: gRPC's
    fork handlers then crash the child before it execs (seen on CI). subprocess starts the
    child without them (vfork), and fdspawn reads the terminal's other end."""
    import fcntl
    import struct
    import subprocess
    import termios

    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    process = subprocess.Popen(
        command, env=env, stdin=follower, stdout=follower, stderr=follower, start_new_session=True
    )
    os.close(follower)
    return fdspawn(leader, timeout=240, encoding="utf-8"), process


def test_chat_through_a_pseudo_terminal(
    settings: Settings, shared_engine: None, tmp_path: Path, verified: list[str]
) -> None:
    import pexpect  # a dev dependency: the test must run, not skip
    from pexpect.fdpexpect import fdspawn

    model = script(tmp_path / "chat.json", [TURNS[0][1], TURNS[1][1]])
    env = {**os.environ, "ASKSPARK_HOME": str(settings.home), "NO_COLOR": "1", "COLUMNS": "200"}
    command = [sys.executable, "-m", "askspark.interfaces.cli", "chat", "--table", "northwind.orders"]
    child, process = _on_a_terminal([*command, "--model", model], env, fdspawn)
    try:
        ids = []
        for question, _ in TURNS[:2]:
            child.expect_exact("askspark> ")
            child.sendline(question)
            child.expect(r"succeeded run (\S+) in")
            ids.append(child.match.group(1))
        for command_line, expected in (
            ("/code", "year(order_date) = 2024"),
            ("/tables", "northwind.orders"),
            ("/history", f"2. {ids[1]} (succeeded): {TURNS[1][0]}"),
            ("/nope", "unknown command"),
            ("/verify", f"run {ids[1]} verified"),
        ):
            child.expect_exact("askspark> ")
            child.sendline(command_line)
            child.expect_exact(expected)
        verified.append(ids[1])
        child.expect_exact("askspark> ")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        child.close()
    store = api.store_for(settings)
    assert store.get(ids[1]).follow_up_of == ids[0]
    assert ids[1] in [v.run_id for v in store.verified()]
