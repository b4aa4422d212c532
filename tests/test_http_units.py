"""Fast parts of the HTTP server: payload normalization, recovery rules, the engine's restart gate."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from askspark.engines.supervise import Gate
from askspark.errors import UsageError
from askspark.interfaces.http.app import is_loopback
from askspark.interfaces.http.runner import Runner
from askspark.interfaces.http.schemas import AskRequest
from askspark.record import Answer
from askspark.request import Request
from askspark.settings import Settings


def test_seed_and_own_field_names_normalize_alike() -> None:
    seeds = AskRequest.model_validate(
        {
            "prompt": "q",
            "selected_tables": [{"database": "northwind", "table": "orders"}],
            "s3_input_path": "sales/sales.csv",
            "execution_engine": "Lambda",
        }
    ).to_request()
    ours = AskRequest.model_validate(
        {"question": "q", "tables": ["northwind.orders"], "files": ["sales/sales.csv"], "engine": "local"}
    ).to_request()
    assert (
        seeds
        == ours
        == Request(question="q", tables=["northwind.orders"], files=["sales/sales.csv"], engine="local")
    )


def test_conflicting_or_missing_question_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="both 'question' and 'prompt'"):
        AskRequest(question="a", prompt="b").to_request()
    with pytest.raises(UsageError, match="empty"):
        AskRequest(tables=["x.y"]).to_request()


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "example.org", "::"))


def queued(run_id: str) -> Answer:
    return Answer(
        status="queued", run_id=run_id, question="q", engine="local", model="m", created_at=datetime.now(UTC)
    )


def test_recovery_requeues_only_runs_of_a_server_that_is_gone(tmp_path: Path) -> None:
    runner = Runner(Settings(home=tmp_path))
    request = {"run": Request(question="q", tables=["a.b"]).model_dump()}
    runner.store.save(queued("gone"), request | {"server_pid": 2**22 + 12345})  # no such process
    runner.store.save(queued("alive"), request | {"server_pid": 1})  # init: a server still running
    runner.store.save(queued("cli"))  # no request: started by the CLI or Python, not ours to run
    assert runner.recover() == ["gone"]
    ticket = runner.ticket("gone")
    assert ticket is not None and "re-queued" in ticket.notices[-1]
    assert ticket.request.tables == ["a.b"]


def test_gate_restart_waits_for_running_jobs_and_holds_new_ones() -> None:
    gate, order = Gate(), []
    job_running = threading.Event()

    def job(name: str, hold: float) -> None:
        with gate.job():
            job_running.set()
            order.append(f"{name} start")
            time.sleep(hold)
            order.append(f"{name} end")

    def restart() -> None:
        with gate.alone():
            order.append("restart")

    first = threading.Thread(target=job, args=("a", 0.3))
    first.start()
    job_running.wait()
    restarter = threading.Thread(target=restart)
    restarter.start()
    while not gate._restarting:  # the restart is waiting for job a
        time.sleep(0.01)
    late = threading.Thread(target=job, args=("b", 0.0))
    late.start()
    for t in (first, restarter, late):
        t.join()
    assert order == ["a start", "a end", "restart", "b start", "b end"]


def test_every_ask_option_is_an_http_field_and_reaches_the_request() -> None:
    body = {"question": "q", "catalog": "glue", "remote": "sc://127.0.0.1:15002", "row_limit": 3}
    request = AskRequest.model_validate(body).to_request()
    assert request == Request(question="q", catalog="glue", remote="sc://127.0.0.1:15002", row_limit=3)
    assert not request.names_data  # no tables, no files: picked by the question
    assert set(Request.model_fields) - {"described", "code", "rerun_of"} <= set(AskRequest.model_fields)


def test_a_request_stored_by_an_older_server_still_loads(tmp_path: Path) -> None:
    """Rows written before ``catalog`` and ``remote`` existed (the old RunRequest's fields)."""
    old = {"question": "q", "tables": ["a.b"], "files": [], "engine": None, "model": None}
    old |= {"max_attempts": None, "row_limit": 5, "code": None, "rerun_of": None}
    runner = Runner(Settings(home=tmp_path))
    runner.store.save(queued("old"), {"run": old, "server_pid": 2**22 + 12345})
    assert runner.recover() == ["old"]
    ticket = runner.ticket("old")
    assert ticket is not None and ticket.request == Request(question="q", tables=["a.b"], row_limit=5)
