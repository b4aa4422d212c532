"""Core-slice benchmark: what askspark's execution path costs on top of the query itself.

Measured side by side in one run, interleaved so machine noise hits both alike:
- plain:   the same query in a plain Spark Connect session to the same server (limit + toArrow);
- attempt: askspark's whole attempt after generation: static validation, then the sandboxed worker's
           dry run on empty stand-ins, execution, bounded collection and the full-result file;
- dry run: the dry-run part alone (reported by the worker), and static validation alone;
- every query both ways, interleaved: only the tables the code touches bound (today) and every selected
  table bound (before issue 16, ``Runner.bind_touched = False``); "6 tables, touch 1" selects six TPC-H
  tables and reads one.
Then cold start: a fresh ``askspark ask`` process to its first answer (scripted model, own Spark).

    .venv/bin/python benchmarks/core_overhead.py [--runs 20] [--cold 1]

Prints a table of medians and ratios. Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = {
    "scan+agg": "SELECT symbol, AVG(close) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY symbol",
    "join-ish": "SELECT country, SUM(quantity * unit_price * (1 - discount)) AS revenue FROM orders "
    "GROUP BY country ORDER BY revenue DESC",
    "rows": "SELECT order_id, customer, quantity FROM orders WHERE quantity > 5",
    "6 tables, touch 1": "SELECT c_mktsegment, COUNT(*) AS customers FROM customer GROUP BY c_mktsegment "
    "ORDER BY c_mktsegment",
}
TABLES = {
    "scan+agg": ["northwind.nasdaq"],
    "join-ish": ["northwind.orders"],
    "rows": ["northwind.orders"],
    "6 tables, touch 1": [
        f"tpch.{t}" for t in ("customer", "orders", "lineitem", "part", "supplier", "nation")
    ],
}
# How each query's tables are bound, interleaved: only the touched ones (today, which costs reading the
# code's references) or every selected one (before issue 16).
MODES = {"touched": True, "all bound": False}


def code_for(sql: str) -> str:
    return f'def answer(spark, tables):\n    return spark.sql("""{sql}""")\n'


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def plain_session(socket_path: str, bindings: list, sql: str, limit: int) -> float:
    """The same query as a user would run it by hand: a session with the tables as views."""
    import uuid

    from askspark.engines.worker import connect

    spark = connect(socket_path, str(uuid.uuid4()))  # the server's only door is its Unix socket
    for b in bindings:
        spark.read.format(b.format).schema(b.schema_ddl).options(**b.options).load(
            b.location
        ).createOrReplaceTempView(b.name)
    spark.sql(sql).limit(limit + 1).toArrow()  # warm this session once
    start = time.perf_counter()
    spark.sql(sql).limit(limit + 1).toArrow()
    elapsed = time.perf_counter() - start
    spark.stop()
    return elapsed


def measure_warm(runs: int) -> list[dict[str, object]]:
    from askspark import api
    from askspark.catalog.sample import generate_northwind
    from askspark.catalog.tpch import generate_tpch
    from askspark.engines.base import bindings_for
    from askspark.settings import Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="askspark-bench-")))
    generate_northwind(settings)
    generate_tpch(settings, 0.01)  # before the engine starts, so it may read the tables at once
    engine = api.engine_for("local", settings)
    rows = []
    for name, sql in QUERIES.items():
        bindings = bindings_for(api.select_tables(TABLES[name], [], settings))
        modes = list(MODES)
        plain: list[float] = []
        times: dict[str, dict[str, list[float]]] = {
            m: {"attempt": [], "dry": [], "static": [], "references": []} for m in modes
        }
        for i in range(runs):
            engine.warm()  # between attempts the model is writing code: the spare worker is ready
            plain.append(plain_session(engine.state.socket_path, bindings, sql, 1000))
            for mode in modes:
                engine.warm()
                attempt(engine, settings, bindings, sql, i, MODES[mode], times[mode])
        rows += [summary(f"{name} ({m})", plain, times[m]) for m in modes]
    api.close_all()
    return rows


def attempt(engine, settings, bindings: list, sql: str, i: int, touched: bool, times: dict) -> None:  # noqa: ANN001
    """One attempt after generation: static validation, then the engine's job (dry run and execution)."""
    from askspark.engines.base import Job, Limits
    from askspark.engines.runner import Runner
    from askspark.validate import validate_static
    from askspark.validate.references import table_references

    Runner.bind_touched = touched
    code = code_for(sql)
    start = time.perf_counter()  # outside the attempt's time: the engine reads them itself, inside run
    table_references(code)
    times["references"].append(time.perf_counter() - start)
    start = time.perf_counter()
    assert not validate_static(code)
    times["static"].append(time.perf_counter() - start)
    job = Job(
        run_id="bench",
        attempt=i,
        code=code,
        tables=bindings,
        limits=Limits(),
        output_dir=str(settings.runs_dir / "bench" / f"{i}-{touched}"),
    )
    ex = engine.run(job)
    times["attempt"].append(time.perf_counter() - start)
    assert ex.ok, ex.error
    times["dry"].append(ex.timings["dry_run"])


def summary(name: str, plain: list[float], times: dict[str, list[float]]) -> dict[str, object]:
    return {
        "query": name,
        "plain_ms": median_ms(plain),
        "attempt_ms": median_ms(times["attempt"]),
        "overhead_ms": median_ms(times["attempt"]) - median_ms(plain),
        "ratio": median_ms(times["attempt"]) / median_ms(plain),
        "dry_run_ms": median_ms(times["dry"]),
        "static_ms": median_ms(times["static"]),
        "references_ms": median_ms(times["references"]),
    }


def measure_cold(times: int) -> list[float]:
    """A fresh process: start Spark, start a sandboxed worker, answer (scripted model)."""
    results = []
    for _ in range(times):
        home = Path(tempfile.mkdtemp(prefix="askspark-cold-"))
        env = os.environ | {"ASKSPARK_HOME": str(home)}
        cli = [sys.executable, "-m", "askspark.interfaces.cli"]
        subprocess.run([*cli, "catalog", "sample"], env=env, check=True, capture_output=True)
        replies = home / "replies.json"
        replies.write_text(json.dumps([f"```python\n{code_for(QUERIES['scan+agg'])}```"]))
        start = time.perf_counter()
        proc = subprocess.run(
            [*cli, "ask", "q", "-t", "northwind.nasdaq", "--model", f"scripted:{replies}", "--json"],
            env=env,
            capture_output=True,
            text=True,
        )
        results.append(time.perf_counter() - start)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cold", type=int, default=1)
    args = parser.parse_args()
    rows = measure_warm(args.runs)
    print(f"\nwarm attempt vs plain Spark Connect session, median of {args.runs} interleaved runs\n")
    print(
        "| query (tables bound) | plain ms | askspark attempt ms | overhead ms | ratio | dry run ms "
        "| static validation ms | reading references ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['query']} | {r['plain_ms']:.0f} | {r['attempt_ms']:.0f} | {r['overhead_ms']:.0f} | {r['ratio']:.2f} | {r['dry_run_ms']:.0f} | {r['static_ms']:.1f} | {r['references_ms']:.1f} |"
        )
    if args.cold:
        cold = measure_cold(args.cold)
        print(
            f"\ncold start to first answer (fresh process, own Spark server, scripted model): median {statistics.median(cold):.1f} s over {len(cold)} run(s)"
        )


if __name__ == "__main__":
    main()
