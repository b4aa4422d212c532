"""The interfaces' conformance suite (ibis-style): the same requests through the Python API, the CLI
(``askspark ask --json``), the HTTP API (a real uvicorn on loopback) and the MCP ``ask`` tool (the SDK's
client on that server's ``/v1/mcp``) give the same answer documents.

Real Spark, a scripted model. Each case is one request; each interface is one way to send it. Adding an
interface is one entry in ``INTERFACES``, adding a case one entry in ``CASES``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from askspark import api
from askspark.interfaces.cli import app
from askspark.settings import Settings
from live_server import LiveServer, script, sql

pytestmark = pytest.mark.slow

AVG_CLOSE = "SELECT symbol, ROUND(AVG(close), 2) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY symbol"
TEAMS_CSV = "team,points\nred,3\nblue,5\nred,4\n"
UPLOADED = "conformance/teams.csv"  # under HOME/uploads, where the HTTP API may read files
# What differs from run to run however it was asked (the run id also inside paths and the summary).
VOLATILE = {"run_id", "created_at", "seconds", "timings", "logs"}


@dataclass
class Case:
    """One request: its question, named tables and files, options, and the scripted reply."""

    id: str
    question: str
    reply: str
    tables: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # paths relative to the upload area
    options: dict[str, Any] = field(default_factory=dict)
    check: Callable[[dict[str, Any]], bool] = lambda doc: True


CASES = [
    Case(
        "named-tables",
        "Average close per symbol",
        AVG_CLOSE,
        tables=["northwind.nasdaq"],
        options={"row_limit": 4},  # an option that overrides a setting: 4 of 6 rows, truncated
        check=lambda doc: len(doc["result"]["rows"]) == 4 and doc["result"]["truncated"],
    ),
    Case(
        "picked-by-question",
        "Average closing price per stock symbol",
        AVG_CLOSE,
        check=lambda doc: doc["chosen_tables"][0]["table"] == "northwind.nasdaq",
    ),
    Case(
        "file",
        "Total points per team",
        "SELECT team, SUM(points) AS total FROM teams GROUP BY team ORDER BY team",
        files=[UPLOADED],
        check=lambda doc: (
            doc["result"]["rows"] == [["blue", 5], ["red", 7]] and doc["tables"] == ["files.teams"]
        ),
    ),
]


def through_python(case: Case, model: str, home: Path, server: LiveServer) -> dict[str, Any]:
    files = [str(home / "uploads" / f) for f in case.files]
    return api.ask(case.question, case.tables, files, model=model, **case.options).to_json()


def through_cli(case: Case, model: str, home: Path, server: LiveServer) -> dict[str, Any]:
    args = ["ask", case.question, "--model", model, "--json"]
    args += [a for t in case.tables for a in ("--table", t)]
    args += [a for f in case.files for a in ("--file", str(home / "uploads" / f))]
    args += [a for k, v in case.options.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def through_http(case: Case, model: str, home: Path, server: LiveServer) -> dict[str, Any]:
    body = {"question": case.question, "tables": case.tables, "files": case.files, "model": model}
    response = httpx.post(f"{server.url}/v1/ask", json=body | case.options, timeout=300)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def through_mcp(case: Case, model: str, home: Path, server: LiveServer) -> dict[str, Any]:
    """The MCP SDK's client on the server's /v1/mcp mount; files are uploaded ones, as over HTTP."""
    import anyio
    from mcp import Client

    arguments = {"question": case.question, "tables": case.tables, "files": case.files, "model": model}

    async def call() -> Any:
        async with Client(f"{server.url}/v1/mcp", read_timeout_seconds=300) as client:
            return await client.call_tool("ask", arguments | case.options)

    result = anyio.run(call)
    assert not result.is_error, result.content
    return result.structured_content  # type: ignore[no-any-return]


INTERFACES = {"python": through_python, "cli": through_cli, "http": through_http, "mcp": through_mcp}


def comparable(doc: dict[str, Any]) -> Any:
    """The document without what differs between runs: ids, times, timings and logs."""
    return _strip(json.loads(json.dumps(doc).replace(doc["run_id"], "RUN")))


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


@pytest.fixture(scope="module")
def server(settings: Settings, engine: object) -> Iterator[LiveServer]:
    teams = settings.home / "uploads" / UPLOADED
    teams.parent.mkdir(parents=True, exist_ok=True)
    teams.write_text(TEAMS_CSV)
    live = LiveServer(settings)
    yield live
    live.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_request_same_answer_document(
    case: Case, server: LiveServer, settings: Settings, tmp_path: Path
) -> None:
    # One scripted model for the case, shared by the three interfaces (one process): a reply each.
    model = script(tmp_path / f"{case.id}.json", [sql(case.reply)] * len(INTERFACES))
    docs = {name: send(case, model, settings.home, server) for name, send in INTERFACES.items()}
    for name, doc in docs.items():
        assert doc["status"] == "succeeded", (name, doc.get("error"))
        assert case.check(doc), (name, doc)
    expected = comparable(docs["python"])
    for name in ("cli", "http", "mcp"):
        assert comparable(docs[name]) == expected, name


def test_http_resolves_the_catalog_once_per_request(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Accepting a run resolves its tables; running it uses them (it used to resolve them again)."""
    import askspark.catalog

    calls: list[object] = []
    resolve = askspark.catalog.resolve_table
    monkeypatch.setattr(askspark.catalog, "resolve_table", lambda *args: calls.append(args) or resolve(*args))
    model = script(tmp_path / "once.json", [sql(AVG_CLOSE)])
    body = {"question": "Average close per symbol", "tables": ["northwind.nasdaq"], "model": model}
    response = httpx.post(f"{server.url}/v1/ask", json=body, timeout=300)
    assert response.json()["status"] == "succeeded", response.text
    assert len(calls) == 1
