"""TPC-H: offline generation into the catalog, the tpch suite's honesty, and its reference answers through
the real engine (a subset here; all 22 in ``askspark eval suites/tpch.jsonl --model reference``)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from askspark.catalog.local import LocalCatalog
from askspark.catalog.tpch import TABLES, generate_tpch, registered_scale
from askspark.evals.suite import load_suite, select
from askspark.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "suites" / "tpch.jsonl"
# Cheap queries (CI time): a single-row decimal answer (q06), the rewritten q13 (outer join, two
# aggregations) and substring + NOT EXISTS + a scalar subquery (q22). All 22 run as one command:
# askspark eval suites/tpch.jsonl --model reference (docs/evaluation.md).
SUBSET = ["q06", "q13", "q22"]


def _digests(settings: Settings) -> dict[str, str]:
    root = settings.warehouse / "tpch"
    return {t: hashlib.sha256((root / t / "data.parquet").read_bytes()).hexdigest() for t in TABLES}


def test_tpch_generation_is_deterministic_and_registered_with_comments(tmp_path: Path) -> None:
    first, second = Settings(home=tmp_path / "a"), Settings(home=tmp_path / "b")
    infos = generate_tpch(first, 0.01)
    generate_tpch(second, 0.01)
    assert _digests(first) == _digests(second)
    assert [i.name for i in infos] == list(TABLES)
    catalog = LocalCatalog(first)
    assert catalog.list_tables("tpch") == sorted(TABLES)
    lineitem = catalog.describe("tpch", "lineitem")
    assert lineitem.row_count == 60175
    assert all(c.comment for c in lineitem.columns), "every column carries the spec's description"
    assert registered_scale(first) == 0.01


def test_the_tpch_suite_has_22_questions_that_state_every_constant() -> None:
    questions = load_suite(SUITE)
    assert [q.id for q in questions] == [f"q{n:02d}" for n in range(1, 23)]
    for q in questions:
        assert q.expected is not None and q.reference, q.id
        assert all(t.startswith("tpch.") for t in q.tables)
        # Every quoted literal of the query (dates, segments, nations, brands, patterns) is in the question.
        literals = re.findall(r"'([^']*)'", q.reference)
        missing = [lit for lit in literals if lit.strip("%") not in q.question]
        assert not missing, (q.id, missing)


def test_the_suite_expectation_is_what_duckdb_answers_now() -> None:
    """The stored rows are DuckDB's answers on freshly generated data: the suite cannot drift."""
    spec = importlib.util.spec_from_file_location(
        "build_tpch_suite", ROOT / "scripts" / "build_tpch_suite.py"
    )
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    sys.modules["build_tpch_suite"] = builder
    spec.loader.exec_module(builder)
    from askspark.catalog.tpch import connect_duckdb, generate

    conn = connect_duckdb()
    generate(conn, builder.SCALE)
    lines = builder.build(conn)
    stored = [json.loads(line) for line in SUITE.read_text().splitlines() if line.startswith("{")]
    assert lines == stored, "suites/tpch.jsonl is stale: run scripts/build_tpch_suite.py"


@pytest.mark.slow
def test_reference_answers_reproduce_duckdbs_through_askspark(settings: Settings, engine: object) -> None:
    """The Spark SQL references, run through the pipeline (sandboxed worker, dry run, Connect server),
    score against DuckDB's rows (the session's settings fixture registered TPC-H at SF 0.1)."""
    from askspark.evals.run import EvalRun

    assert registered_scale(settings) == 0.1
    questions = select(load_suite(SUITE), ids=SUBSET)
    report = EvalRun(settings=settings, model="reference", engine="local").run(questions, suite=str(SUITE))
    failed = [(r.id, r.reason, r.last_error) for r in report.results if not r.correct]
    assert report.summary.correct == len(SUBSET), failed


def test_eval_refuses_tpch_data_of_another_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from askspark.evals.cli import eval_command

    home = tmp_path / "home"
    generate_tpch(Settings(home=home), 0.01)
    monkeypatch.setenv("ASKSPARK_HOME", str(home))
    app = typer.Typer()
    app.command()(eval_command)
    result = CliRunner().invoke(app, [str(SUITE), "--model", "reference", "--id", "q06"])
    assert result.exit_code == 2
    assert "scale factor 0.01" in result.output and "askspark catalog tpch --scale 0.1" in result.output


def test_catalog_tpch_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from askspark.interfaces.cli import app

    monkeypatch.setenv("ASKSPARK_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["catalog", "tpch", "--scale", "0.01"])
    assert result.exit_code == 0 and "tpch.lineitem: 60175 rows" in result.output
    bad = CliRunner().invoke(app, ["catalog", "tpch", "--scale", "0"])
    assert bad.exit_code == 2 and "out of range" in bad.output
