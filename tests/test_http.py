"""The HTTP API against a real uvicorn server on 127.0.0.1: real Spark, scripted model."""

from __future__ import annotations

import concurrent.futures
import io
import json
import signal
import statistics
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from askspark.record import Answer
from askspark.settings import Settings
from live_server import LiveServer, free_port, script, serve_process, sql, wait_up

pytestmark = pytest.mark.slow
TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

REVENUE = sql(
    "SELECT country, ROUND(SUM(quantity * unit_price * (1 - discount)), 2) AS revenue FROM orders "
    "WHERE YEAR(order_date) = 2024 GROUP BY country ORDER BY revenue DESC"
)
AVG_CLOSE = sql(
    "SELECT symbol, ROUND(AVG(close), 2) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY symbol"
)
SALES_BY_REGION = sql("SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region")
SALES_CSV = "region,amount\nnorth,10\nsouth,5\nnorth,7\neast,1\n"


@pytest.fixture(scope="module")
def live(
    settings: Settings, engine: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The server, with a token, and the seeds' three questions scripted as the default model."""
    tmp = tmp_path_factory.mktemp("http")
    model = script(tmp / "default.json", [REVENUE, AVG_CLOSE, SALES_BY_REGION])
    server = LiveServer(
        settings.model_copy(update={"model": model, "api_token": TOKEN, "max_upload_bytes": 4096})
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, headers=AUTH, timeout=180) as c:
        yield c


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape: status, code, a message and a suggestion saying what to fix, details."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "status", "message", "suggestion", "details"}
    assert error["status"] == status and error["code"] == code
    assert error["message"] and error["suggestion"]
    return error


def upload(client: httpx.Client, filename: str, content: bytes, **data: str) -> httpx.Response:
    return client.post("/v1/uploads", files={"file": (filename, content, "text/csv")}, data=data)


def assert_answer_document(body: dict[str, Any]) -> Answer:
    """The same document as 'askspark ask --json' (Answer.to_json)."""
    answer = Answer.model_validate(body)
    assert body == answer.to_json()
    return answer


# --- the seeds' three payloads --------------------------------------------------------------------


def test_seed_payloads(client: httpx.Client) -> None:
    first = client.post(
        "/v1/ask",
        json={
            "prompt": "What was the total revenue per country in 2024?",
            "selected_tables": [{"database": "northwind", "table": "orders"}],
            "execution_engine": "local",
        },
    )
    answer = assert_answer_document(first.json())
    assert answer.status == "succeeded", answer.error
    assert [c.name for c in answer.result.columns] == ["country", "revenue"]  # type: ignore[union-attr]
    assert len(answer.result.rows) == 12  # type: ignore[union-attr]

    second = client.post(
        "/v1/ask",
        json={
            "prompt": "Average closing price per symbol",
            "selected_tables": [{"database": "northwind", "table": "nasdaq"}],
            "execution_engine": "lambda",  # the seeds' Spark backend: our local engine
        },
    )
    answer = assert_answer_document(second.json())
    assert answer.status == "succeeded" and answer.engine == "local"
    assert [r[0] for r in answer.result.rows] == ["AAPL", "AMZN", "GOOG", "META", "MSFT", "NVDA"]  # type: ignore[union-attr]

    uploaded = upload(client, "sales.csv", SALES_CSV.encode())
    assert uploaded.status_code == 201, uploaded.text
    third = client.post(
        "/v1/ask",
        json={
            "prompt": "Total amount per region",
            "s3_input_path": uploaded.json()["path"],
            "execution_engine": "local",
        },
    )
    answer = assert_answer_document(third.json())
    assert answer.status == "succeeded", answer.error
    assert answer.result.rows == [["east", 1], ["north", 17], ["south", 5]]  # type: ignore[union-attr]
    recorded = client.get(f"/v1/runs/{answer.run_id}").json()
    assert recorded == answer.to_json()


# --- the async form, events, downloads, re-runs ---------------------------------------------------


def events_of(client: httpx.Client, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    with client.stream("GET", f"/v1/runs/{run_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name:
                events.append((name, json.loads(line[6:])))
    return events


def test_run_events_downloads_and_rerun(client: httpx.Client, tmp_path: Path) -> None:
    model = script(tmp_path / "m.json", [sql("SELECT symbol, closing FROM nasdaq"), AVG_CLOSE])
    accepted = client.post(
        "/v1/runs",
        json={"question": "Average close per symbol", "tables": ["northwind.nasdaq"], "model": model},
    )
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    events = events_of(client, run_id)
    names = [e for e, _ in events]
    assert names[0] == "queued" and names[-1] == "done" and "running" in names
    stages = [d["stage"] for e, d in events if e == "stage"]
    assert stages[:3] == ["generate", "validate", "dry_run"]
    attempts = [d for e, d in events if e == "attempt"]
    assert [a["number"] for a in attempts] == [1, 2]
    assert attempts[0]["error"]["kind"] == "unresolved_column" and attempts[1]["error"] is None
    answer = Answer.model_validate(client.get(f"/v1/runs/{run_id}").json())
    assert answer.status == "succeeded" and len(answer.attempts) == 2

    csv = client.get(f"/v1/runs/{run_id}/result.csv")
    assert csv.status_code == 200 and csv.text.splitlines()[0] == '"symbol","avg_close"'
    assert len(csv.text.splitlines()) == 7
    parquet = client.get(f"/v1/runs/{run_id}/result.parquet")
    (tmp_path / "r.parquet").write_bytes(parquet.content)
    assert pq.read_table(tmp_path / "r.parquet").num_rows == 6
    listed = client.get("/v1/runs", params={"limit": 5}).json()
    assert run_id in [r["run_id"] for r in listed]

    edited = answer.code.replace("ORDER BY symbol", "ORDER BY avg_close DESC LIMIT 2")  # type: ignore[union-attr]
    rerun = client.post(f"/v1/runs/{run_id}/rerun", json={"code": edited})
    assert rerun.status_code == 202
    events_of(client, rerun.json()["run_id"])
    again = Answer.model_validate(client.get(f"/v1/runs/{rerun.json()['run_id']}").json())
    assert again.status == "succeeded" and again.rerun_of == run_id and again.model == "user-code"
    assert len(again.result.rows) == 2 and again.result.rows[0][0] == "NVDA"  # type: ignore[union-attr]

    hostile = "import os\n\ndef answer(spark, tables):\n    os.system('id')\n    return tables['nasdaq']\n"
    refused = client.post(f"/v1/runs/{run_id}/rerun", json={"code": hostile}).json()["run_id"]
    events_of(client, refused)
    refused_answer = Answer.model_validate(client.get(f"/v1/runs/{refused}").json())
    assert refused_answer.status == "failed" and refused_answer.attempts[0].stage == "validate"
    assert refused_answer.error.kind == "policy"  # type: ignore[union-attr]


def test_catalog_browsing_and_uploaded_table(client: httpx.Client) -> None:
    assert "northwind" in client.get("/v1/catalog/databases").json()["databases"]
    assert client.get("/v1/catalog/databases/northwind/tables").json()["tables"] == ["nasdaq", "orders"]
    orders = client.get("/v1/catalog/tables/northwind/orders", params={"rows": 3}).json()
    assert orders["table"]["columns"][0]["name"] == "order_id" and len(orders["rows"]) == 3
    assert orders["columns"][:2] == ["order_id", "order_date"] and orders["rows"][0][0] == 1
    made = upload(
        client, "Cities 2024.csv", b"city,note\nParis,<img src=x onerror=alert(1)>\n", name="cities"
    )
    assert made.status_code == 201 and made.json()["table"] == "uploads.cities"
    cities = client.get("/v1/catalog/tables/uploads/cities").json()
    assert cities["rows"] == [["Paris", "<img src=x onerror=alert(1)>"]]

    buffer = io.BytesIO()
    pq.write_table(pa.table({"k": [1, 2], "when": pa.array([date(2024, 1, 2), None])}), buffer)
    parquet = client.post("/v1/uploads", files={"file": ("events.parquet", buffer.getvalue())})
    assert parquet.status_code == 201 and parquet.json()["row_count"] == 2
    events = client.get("/v1/catalog/tables/uploads/events").json()
    assert events["rows"] == [[1, "2024-01-02"], [2, None]]
    lines = b'{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n'
    made = client.post("/v1/uploads", files={"file": ("lines.jsonl", lines)}, data={"name": "lines"})
    assert made.status_code == 201 and [c["name"] for c in made.json()["columns"]] == ["a", "b"]


# --- errors ---------------------------------------------------------------------------------------


def test_malformed_payloads(client: httpx.Client) -> None:
    bad_json = client.post("/v1/ask", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(bad_json, 400, "usage")
    unknown_field = assert_error(
        client.post("/v1/ask", json={"promt": "x", "tables": ["northwind.orders"]}), 400, "usage"
    )
    assert "promt" in unknown_field["message"]
    assert_error(client.post("/v1/ask", json={"tables": ["northwind.orders"]}), 400, "usage")
    assert_error(client.post("/v1/ask", json={"question": "q", "tables": "northwind.orders"}), 400, "usage")
    assert_error(
        client.post("/v1/ask", json={"question": "q", "tables": ["northwind.orders"], "max_attempts": 0}),
        400,
        "usage",
    )
    # No tables and no files: the tables are picked by the question, and no table matches "q".
    unmatched = assert_error(client.post("/v1/ask", json={"question": "q"}), 400, "usage")
    assert "matches the question" in unmatched["message"]
    outside = client.post("/v1/ask", json={"question": "q", "files": ["/etc/passwd"]})
    assert "uploads" in assert_error(outside, 400, "usage")["suggestion"]


def test_unknown_names(client: httpx.Client) -> None:
    table = assert_error(
        client.post("/v1/ask", json={"question": "q", "tables": ["northwind.order"]}), 404, "not_found"
    )
    assert "northwind.orders" in table["suggestion"]
    engine = client.post("/v1/ask", json={"question": "q", "tables": ["northwind.orders"], "engine": "lokal"})
    assert "local" in assert_error(engine, 400, "usage")["suggestion"]
    assert_error(client.get("/v1/runs/nope"), 404, "not_found")
    assert_error(client.get("/v1/catalog/tables/northwind/nope"), 404, "not_found")
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.post("/v1/runs/nope/rerun", json={"code": "x"}), 404, "not_found")


def test_size_limits(client: httpx.Client) -> None:
    error = assert_error(upload(client, "big.csv", b"a,b\n" + b"1,2\n" * 5000), 413, "too_large")
    assert "ASKSPARK_MAX_UPLOAD_BYTES" in error["suggestion"]
    assert_error(client.post("/v1/ask", json={"question": "x" * 1_100_000, "tables": []}), 413, "too_large")
    assert_error(upload(client, "notes.txt", b"hello"), 400, "usage")


def test_tokens(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as anonymous:
        assert_error(anonymous.get("/v1/runs"), 401, "unauthorized")
        wrong = anonymous.get("/v1/runs", headers={"Authorization": "Bearer nope"})
        assert "wrong" in assert_error(wrong, 401, "unauthorized")["message"]
        assert anonymous.get("/").status_code == 200  # the UI's own files hold no data
        page = anonymous.get("/")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert anonymous.get("/openapi.json").json()["paths"]["/v1/ask"]


def test_queue_full_answers_429_with_retry_after(settings: Settings, engine: object, tmp_path: Path) -> None:
    model = script(tmp_path / "q.json", [AVG_CLOSE], style="sql")
    server = LiveServer(
        settings.model_copy(update={"model": model, "max_concurrent_runs": 1, "max_queued_runs": 0})
    )
    try:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            body = {"question": "q", "tables": ["northwind.nasdaq"]}
            first = c.post("/v1/runs", json=body)
            busy = c.post("/v1/runs", json=body)
            assert first.status_code == 202
            assert_error(busy, 429, "busy")
            assert int(busy.headers["Retry-After"]) >= 1
            events_of(c, first.json()["run_id"])
    finally:
        server.stop()


def test_eight_concurrent_questions(client: httpx.Client, tmp_path: Path) -> None:
    """All 8 answered and recorded; prints median and max seconds (default: 2 runs at once)."""
    model = script(tmp_path / "eight.json", [AVG_CLOSE] * 16)  # spares: a retried attempt must not run dry
    body = {"question": "Average close per symbol", "tables": ["northwind.nasdaq"], "model": model}

    def one(_: int) -> tuple[float, dict[str, Any]]:
        start = time.perf_counter()
        response = client.post("/v1/ask", json=body)
        return time.perf_counter() - start, response.json()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    seconds = sorted(s for s, _ in results)
    assert all(r["status"] == "succeeded" for _, r in results), [r.get("error") for _, r in results]
    ids = {r["run_id"] for _, r in results}
    assert len(ids) == 8
    for run_id in ids:
        assert client.get(f"/v1/runs/{run_id}").json()["status"] == "succeeded"
    print(f"\n8 concurrent questions: median {statistics.median(seconds):.1f} s, max {seconds[-1]:.1f} s")


def test_serve_refuses_to_listen_beyond_loopback_without_a_token() -> None:
    from askspark.interfaces.cli import app

    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0" in result.output and "ASKSPARK_API_TOKEN" in result.output


# --- a real restart -------------------------------------------------------------------------------


def test_accepted_runs_survive_a_restart(settings: Settings, shared_engine: None, tmp_path: Path) -> None:
    """Kill the server with runs queued; a new server runs them. Both join the session's Spark."""
    model = script(tmp_path / "r.json", [AVG_CLOSE] * 6)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = serve_process(settings.home, port, model)
    try:
        wait_up(url)
        body = {"question": "Average close per symbol", "tables": ["northwind.nasdaq"]}
        ids = [httpx.post(f"{url}/v1/runs", json=body).json()["run_id"] for _ in range(3)]
        first.send_signal(signal.SIGKILL)
        first.wait()
        from askspark.api import store_for  # the server is gone: read its store

        left = [store_for(settings).get(i).status for i in ids]
        assert set(left) <= {"queued", "running"} and "queued" in left
        second = serve_process(settings.home, port, model)
        try:
            wait_up(url)
            assert set(ids) <= set(httpx.get(f"{url}/v1/health").json()["requeued"])
            for run_id in ids:
                deadline = time.monotonic() + 120
                while (doc := httpx.get(f"{url}/v1/runs/{run_id}").json())["status"] in ("queued", "running"):
                    assert time.monotonic() < deadline
                    time.sleep(0.5)
                assert doc["status"] == "succeeded", doc.get("error")
                assert any("re-queued" in n for n in doc["notices"])
        finally:
            second.terminate()
            second.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()


def test_run_code_from_python_without_a_model(settings: Settings, engine: object) -> None:
    """The path behind re-runs: given code, one attempt, validation + dry run + sandbox, recorded."""
    from askspark import api
    from askspark.errors import UsageError

    code = 'def answer(spark, tables):\n    return spark.sql("SELECT COUNT(*) AS n FROM nasdaq")\n'
    answer = api.run_code(code, "How many rows?", ["northwind.nasdaq"], settings=settings, rerun_of="r0")
    assert answer.status == "succeeded" and answer.model == "user-code" and answer.rerun_of == "r0"
    assert answer.result.rows == [[3132]] and len(answer.attempts) == 1  # type: ignore[union-attr]
    assert api.store_for(settings).get(answer.run_id).status == "succeeded"
    with pytest.raises(UsageError, match="code is empty"):
        api.run_code("  ", "q", ["northwind.nasdaq"], settings=settings)
