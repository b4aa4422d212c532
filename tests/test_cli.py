"""The CLI: --json documents, exit codes, the error shape, catalog and runs commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from askspark.interfaces.cli import app
from askspark.settings import Settings

GOOD = "def answer(spark, tables):\n    return spark.sql('SELECT symbol, MAX(close) AS top FROM nasdaq GROUP BY symbol ORDER BY symbol')"
BAD = "def answer(spark, tables):\n    return spark.sql('SELECT nothing_here FROM nasdaq')"

runner = CliRunner()


def script(tmp_path: Path, *codes: str) -> str:
    path = tmp_path / "replies.json"
    path.write_text(json.dumps([f"```python\n{c}\n```" for c in codes]))
    return f"scripted:{path}"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


@pytest.mark.slow
def test_ask_json_document(settings: Settings, engine: object, tmp_path: Path) -> None:
    code, out = invoke(
        "ask",
        "Highest close per symbol?",
        "--table",
        "northwind.nasdaq",
        "--model",
        script(tmp_path, GOOD),
        "--json",
    )
    assert code == 0, out
    doc = json.loads(out)
    assert doc["status"] == "succeeded" and doc["question"] == "Highest close per symbol?"
    assert doc["engine"] == "local" and doc["code"].startswith("def answer")
    attempt = doc["attempts"][0]
    assert {"number", "code", "stage", "error", "seconds"} <= attempt.keys() and attempt["error"] is None
    result = doc["result"]
    assert [c["name"] for c in result["columns"]] == ["symbol", "top"] and len(result["rows"]) == 6
    assert result["truncated"] is False and Path(result["location"]).exists()


@pytest.mark.slow
def test_failed_run_exits_non_zero_and_is_recorded(
    settings: Settings, engine: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASKSPARK_CLARIFY_FROM_ERRORS", "false")  # else: needs_clarification (knowledge tests)
    code, out = invoke(
        "ask", "q", "--table", "northwind.nasdaq", "--model", script(tmp_path, BAD, BAD), "--json"
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["status"] == "failed" and doc["attempts"][0]["error"]["kind"] == "unresolved_column"
    assert doc["summary"] and doc["code"]
    code, out = invoke("runs", "show", doc["run_id"], "--json")
    assert code == 0 and json.loads(out)["status"] == "failed"
    code, out = invoke("runs", "list", "--json")
    assert doc["run_id"] in [r["run_id"] for r in json.loads(out)]


@pytest.mark.slow
def test_human_output_shows_code_result_and_location(
    settings: Settings, engine: object, tmp_path: Path
) -> None:
    code, out = invoke(
        "ask", "q", "-t", "northwind.nasdaq", "--model", script(tmp_path, GOOD), "--row-limit", "2"
    )
    assert code == 0
    assert "def answer" in out
    assert "AAPL" in out and "AMZN" in out and "GOOG" not in out  # ordered by symbol, cut at 2 rows
    assert "truncated" in out and "full result:" in out and "succeeded" in out


def test_unknown_table_json_error_shape(settings: Settings, tmp_path: Path) -> None:
    code, out = invoke("ask", "q", "--table", "northwind.ordrs", "--model", script(tmp_path, GOOD), "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert set(error) == {"code", "status", "message", "suggestion", "details"}
    assert error["status"] == 404 and "ordrs" in error["message"] and "orders" in error["suggestion"]


def test_unknown_model_provider_suggests_the_closest(settings: Settings) -> None:
    code, out = invoke("ask", "q", "--table", "northwind.orders", "--model", "opnai:gpt", "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert "opnai" in error["message"] and "openai" in error["suggestion"]


def test_catalog_commands(settings: Settings, tmp_path: Path) -> None:
    code, out = invoke("catalog", "list", "--json")
    assert code == 0 and set(json.loads(out)["northwind"]) == {"nasdaq", "orders"}
    code, out = invoke("catalog", "describe", "northwind.orders", "--json")
    info = json.loads(out)
    assert code == 0 and info["row_count"] == 5000 and any(c["name"] == "unit_price" for c in info["columns"])
    data = tmp_path / "pets.csv"
    data.write_text("name,legs\ncat,4\nbird,2\n")
    code, out = invoke("catalog", "add", "zoo.pets", str(data))
    assert code == 0 and "2 rows" in out
    code, out = invoke("catalog", "describe", "zoo.pets", "--json")
    assert [c["type"] for c in json.loads(out)["columns"]] == ["string", "bigint"]
    code, _ = invoke("catalog", "add", "nodatabase", str(data))
    assert code == 2


@pytest.mark.slow
def test_ask_in_a_fresh_process(tmp_path: Path) -> None:
    """The installed console script, as a user runs it: its own Spark server, started and stopped."""
    home = tmp_path / "home"
    env = os.environ | {"ASKSPARK_HOME": str(home)}
    askspark = [sys.executable, "-m", "askspark.interfaces.cli"]
    subprocess.run([*askspark, "catalog", "sample"], env=env, check=True, capture_output=True)
    proc = subprocess.run(
        [
            *askspark,
            "ask",
            "Highest close per symbol?",
            "-t",
            "northwind.nasdaq",
            "--model",
            script(tmp_path, GOOD),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["status"] == "succeeded"


def test_catalog_dataset_generates_a_registered_dataset_and_names_the_known_ones(tmp_path: Path) -> None:
    env = {**os.environ, "ASKSPARK_HOME": str(tmp_path / "home")}
    askspark = [sys.executable, "-m", "askspark.interfaces.cli"]
    made = subprocess.run(
        [*askspark, "catalog", "dataset", "retail"], env=env, capture_output=True, text=True
    )
    assert made.returncode == 0 and "retail.sales: 9000 rows" in made.stdout
    unknown = subprocess.run(
        [*askspark, "catalog", "dataset", "retial"], env=env, capture_output=True, text=True
    )
    assert unknown.returncode == 2 and "did you mean 'retail'" in unknown.stderr
