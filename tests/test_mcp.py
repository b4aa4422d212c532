"""The MCP server, driven by the MCP SDK's own client: ``askspark mcp`` as a stdio subprocess, and the
streamable-HTTP mount of ``askspark serve`` (a real uvicorn on loopback) with and without its token.

Real Spark (the subprocess joins the session's server), a scripted model.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from askspark.interfaces.mcp import LOG_CHARS, bounded
from askspark.settings import Settings
from live_server import LiveServer, script, sql

AVG_CLOSE = "SELECT symbol, ROUND(AVG(close), 2) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY symbol"
TOOLS = {"ask", "run_code", "list_tables", "describe_table", "get_run", "verify"}
TOP_CLOSE = "SELECT symbol, MAX(close) AS top_close FROM nasdaq GROUP BY symbol ORDER BY symbol"
TOKEN = "mcp-test-token"


def drive(client: Client, session: Callable[[Client], Awaitable[Any]]) -> Any:
    """Run ``session(client)`` inside the client's connection, from a synchronous test."""

    async def main() -> Any:
        async with client:
            return await session(client)

    return anyio.run(main)


async def ask(client: Client, arguments: dict[str, Any]) -> tuple[Any, list[str]]:
    """Call the ask tool, collecting its progress messages."""
    messages: list[str] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    result = await client.call_tool("ask", arguments, progress_callback=progress)
    return result, messages


def stdio_client(settings: Settings) -> Client:
    # As an agent starts it: askspark as installed (the sandboxed worker imports it from there too).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"ASKSPARK_HOME": str(settings.home)}
    env["ASKSPARK_TIMEOUT_SECONDS"] = "240"  # the 2-core CI machine is slow, not the code
    command = StdioServerParameters(
        command=sys.executable, args=["-m", "askspark.interfaces.cli", "mcp"], env=env
    )
    return Client(command, read_timeout_seconds=300)


@pytest.mark.slow
def test_stdio_tools_ask_get_run_and_errors(settings: Settings, shared_engine: None, tmp_path: Path) -> None:
    model = script(tmp_path / "stdio.json", [sql(AVG_CLOSE)] * 3)  # spares: a timed-out attempt is retried

    async def session(client: Client) -> dict[str, Any]:
        tools = {t.name for t in (await client.list_tools()).tools}
        answer, progress = await ask(
            client, {"question": "Average close per symbol", "tables": ["northwind.nasdaq"], "model": model}
        )
        run = await client.call_tool("get_run", {"run_id": answer.structured_content["run_id"]})
        bad, _ = await ask(client, {"question": "Average close", "tables": ["northwind.nasdaqq"]})
        unknown = await client.call_tool("verify", {"run_id": "no-such-run"})
        listing = await client.call_tool("list_tables", {"database": "northwind"})
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        table = await client.read_resource("askspark://table/northwind.nasdaq")
        return locals()

    got = drive(stdio_client(settings), session)
    assert got["tools"] >= TOOLS
    doc = got["answer"].structured_content
    assert not got["answer"].is_error and doc["status"] == "succeeded", [
        (a["stage"], a["error"], a["seconds"]) for a in doc["attempts"]
    ]
    assert "nasdaq" in doc["code"] and len(doc["result"]["rows"]) == 6
    assert json.loads(got["answer"].content[0].text)["run_id"] == doc["run_id"]
    assert any(m.startswith("attempt 1: dry_run") for m in got["progress"]), got["progress"]
    assert any(m.startswith("attempt ") and m.endswith(": ok") for m in got["progress"]), got["progress"]
    assert got["run"].structured_content["run_id"] == doc["run_id"]
    assert got["run"].structured_content["code"] == doc["code"]
    # A bad table: a tool error carrying the one error shape, with askspark's message and suggestion.
    assert got["bad"].is_error
    error = json.loads(got["bad"].content[0].text)["error"]
    assert error["code"] == "not_found" and "northwind.nasdaqq" in error["message"]
    assert "northwind.nasdaq" in error["suggestion"]
    assert got["unknown"].is_error and "no-such-run" in got["unknown"].structured_content["error"]["message"]
    assert "northwind.nasdaq" in got["listing"].structured_content["tables"]
    assert "askspark://table/northwind.nasdaq" in got["resources"]
    assert json.loads(got["table"].contents[0].text)["name"] == "nasdaq"


@pytest.mark.slow
def test_stdio_run_code_goes_through_validation(settings: Settings, shared_engine: None) -> None:
    """Given code is checked like the model's: a forbidden construct never runs (policy failure)."""
    code = "def answer(spark, tables):\n    import os\n    return tables['nasdaq']\n"
    good = "def answer(spark, tables):\n    return tables['nasdaq'].groupBy('symbol').count()\n"

    async def session(client: Client) -> tuple[Any, Any]:
        base = {"question": "rows per symbol", "tables": ["northwind.nasdaq"]}
        return (
            await client.call_tool("run_code", base | {"code": code}),
            await client.call_tool("run_code", base | {"code": good}),
        )

    refused, ran = drive(stdio_client(settings), session)
    doc = refused.structured_content
    assert doc["status"] == "failed" and doc["model"] == "user-code"
    assert doc["attempts"][0]["error"]["kind"] == "policy" and doc["attempts"][0]["stage"] == "validate"
    assert ran.structured_content["status"] == "succeeded", ran.structured_content
    assert len(ran.structured_content["result"]["rows"]) == 6


@pytest.fixture(scope="module")
def token_server(settings: Settings, engine: Any) -> Iterator[LiveServer]:
    live = LiveServer(settings.model_copy(update={"api_token": TOKEN}))
    yield live
    live.stop()


def http_client(url: str, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(300, read=300))
    return Client(streamable_http_client(f"{url}/v1/mcp", http_client=http), read_timeout_seconds=300)


@pytest.mark.slow
def test_http_mount_requires_the_token(token_server: LiveServer) -> None:
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    refused = httpx.post(f"{token_server.url}/v1/mcp", json=hello, headers=headers, timeout=30)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    with pytest.raises(Exception):  # noqa: B017 - the SDK's client fails to connect; the 401 is above
        drive(http_client(token_server.url, "wrong-token"), lambda c: c.list_tools())


@pytest.mark.slow
def test_http_mount_with_the_token(token_server: LiveServer, tmp_path: Path) -> None:
    model = script(tmp_path / "http.json", [sql(AVG_CLOSE)] * 3)
    then = script(tmp_path / "then.json", [sql(TOP_CLOSE)] * 3)

    async def session(client: Client) -> dict[str, Any]:
        tools = await client.list_tools()
        answer, progress = await ask(
            client, {"question": "Average close per symbol", "tables": ["northwind.nasdaq"], "model": model}
        )
        run_id = answer.structured_content["run_id"]
        verified = await client.call_tool("verify", {"run_id": run_id})
        # A follow-up by conversation: no tables named, it runs on the first turn's.
        follow, _ = await ask(
            client, {"question": "And the highest?", "conversation_id": run_id, "model": then}
        )
        both, _ = await ask(client, {"question": "q", "conversation_id": run_id, "follow_up": run_id})
        undone = await client.call_tool("verify", {"run_id": run_id, "undo": True})
        return locals()

    got = drive(http_client(token_server.url, TOKEN), session)
    tools, answer, progress = got["tools"], got["answer"], got["progress"]
    assert {t.name for t in tools.tools} >= TOOLS
    doc = answer.structured_content
    assert doc["status"] == "succeeded" and len(doc["result"]["rows"]) == 6, [
        (a["stage"], a["error"], a["seconds"]) for a in doc["attempts"]
    ]
    # The run went through the server's queue: it is a run of the HTTP API too.
    assert progress[0].endswith("queued"), progress
    run = httpx.get(
        f"{token_server.url}/v1/runs/{doc['run_id']}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert run.json()["code"] == doc["code"]
    # verify marks the run right (the HTTP API's verified answers); undo takes it back.
    assert got["verified"].structured_content == {
        "run_id": doc["run_id"], "verified": True, "question": "Average close per symbol",
        "tables": ["northwind.nasdaq"],
    }  # fmt: skip
    assert got["undone"].structured_content == {"run_id": doc["run_id"], "verified": False}
    follow = got["follow"].structured_content
    assert follow["status"] == "succeeded" and follow["tables"] == ["northwind.nasdaq"], follow
    assert follow["follow_up_of"] == doc["run_id"] and follow["conversation_id"] == doc["run_id"]
    assert "top_close" in follow["code"]
    assert got["both"].is_error and "conversation_id" in got["both"].structured_content["error"]["message"]


def test_bounded_document_cuts_logs_then_rows() -> None:
    rows = [[i, "x" * 50] for i in range(1000)]
    doc = {
        "run_id": "r",
        "attempts": [{"number": 1, "logs": "L" * 50_000}],
        "result": {"columns": [], "rows": rows, "truncated": False},
        "alternatives": [
            {"code": "c", "result": {"columns": [], "rows": rows, "truncated": False}, "count": 1}
        ],
        "notices": [],
        "chart": {"data": {"values": [{"n": i, "s": "x" * 50} for i in range(1000)]}},
    }
    small = bounded(doc, 20_000)
    assert len(json.dumps(small)) <= 20_000
    assert 0 < len(small["result"]["rows"]) < 1000 and small["result"]["truncated"]
    assert small["result"]["rows"][0] == [0, "x" * 50]  # cut from the end
    assert len(small["attempts"][0]["logs"]) == LOG_CHARS
    assert "cut to 20000 bytes" in small["notices"][-1]
    assert small["chart"] is None and "chart was left out" in small["notices"][0]
    assert len(doc["result"]["rows"]) == 1000  # the caller's document is left alone
    assert bounded(doc, 10_000_000) is doc
