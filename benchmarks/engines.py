"""Engines side by side: the same question's attempt time on each engine, interleaved, medians.

    .venv/bin/python benchmarks/engines.py [--runs 7] [--rows 2000000] [--remote sc://HOST:PORT]

Engines: ``local`` (the sandboxed local Spark Connect server) and ``connect`` to a standalone cluster
(master + one worker with 1 core and 1 GB, and a Spark Connect server on it, all on 127.0.0.1, started
here from the pip package unless ``--remote`` names one). Each measured attempt is what the repair loop
pays once code exists: the sandboxed worker's dry run, execution, bounded collection and result file
(``Engine.run``). Runs are interleaved (local, connect, local, ...) so machine noise hits all alike; a
warm-up run per engine and question is not counted.

Adding an engine (e.g. ``ray``): add a function to ``BENCH_ENGINES`` that returns a started engine, and
a code variant to ``CODE`` if its code contract differs. Prints a Markdown table of medians and ratios
to local. Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

QUESTIONS = {
    "agg (northwind.nasdaq, small)": (
        ["northwind.nasdaq"],
        "SELECT symbol, AVG(close) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY symbol",
    ),
    "agg (synthetic, --rows)": (
        ["bench.events"],
        "SELECT k, COUNT(*) AS n, AVG(v) AS avg_v FROM events GROUP BY k ORDER BY k",
    ),
}


def code_for(sql: str) -> str:
    return f'def answer(spark, tables):\n    return spark.sql("""{sql}""")\n'


CODE: dict[str, Callable[[str], str]] = {}  # engine id -> code for a question's SQL (default: code_for)


def local_engine(settings: Any, ctx: dict[str, Any]) -> Any:
    from askspark import api

    return api.engine_for("local", settings)


def connect_engine(settings: Any, ctx: dict[str, Any]) -> Any:
    from askspark.engines.connect import ConnectEngine

    return ConnectEngine(ctx["connect_settings"])


BENCH_ENGINES: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "local": local_engine,
    "connect": connect_engine,
}


def synthetic(settings: Any, rows: int) -> Path:
    """A Parquet table of ``rows`` rows (k: 100 groups, v: a double), registered as bench.events."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from askspark.catalog.local import LocalCatalog

    path = settings.warehouse / "bench" / "events"
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for part in range(4):
        n = rows // 4
        table = pa.table({"k": rng.integers(0, 100, n), "v": rng.random(n)})
        pq.write_table(table, path / f"part-{part}.parquet")
    LocalCatalog(settings).add("bench", "events", path, fmt="parquet")
    return path


def measure(engines: dict[str, Any], settings: Any, runs: int) -> list[dict[str, Any]]:
    from askspark import api
    from askspark.engines.base import Job, Limits, bindings_for

    rows = []
    for question, (tables, sql) in QUESTIONS.items():
        bindings = bindings_for(api.select_tables(tables, [], settings))
        times: dict[str, list[float]] = {name: [] for name in engines}
        execute: dict[str, list[float]] = {name: [] for name in engines}
        for i in range(runs + 1):  # run 0 warms each engine for this question
            for name, engine in engines.items():
                if hasattr(engine, "warm"):
                    engine.warm()  # between attempts the model writes code: a worker is waiting
                code = CODE.get(name, code_for)(sql)
                job = Job(run_id="bench", attempt=i, code=code, tables=bindings, limits=Limits(),
                          output_dir=str(settings.runs_dir / "bench" / name / str(i)))  # fmt: skip
                start = time.perf_counter()
                ex = engine.run(job)
                elapsed = time.perf_counter() - start
                assert ex.ok, (name, ex.error)
                if i:
                    times[name].append(elapsed)
                    execute[name].append(ex.timings.get("execute", float("nan")))
        base = statistics.median(times["local"]) if "local" in times else None
        for name in engines:
            med = statistics.median(times[name])
            rows.append(
                {
                    "question": question,
                    "engine": name,
                    "attempt_ms": med * 1000,
                    "execute_ms": statistics.median(execute[name]) * 1000,
                    "min_ms": min(times[name]) * 1000,
                    "ratio": med / base if base else float("nan"),
                }
            )
    return rows


def table(rows: list[dict[str, Any]], runs: int, data_rows: int) -> str:
    lines = [
        f"Median of {runs} interleaved runs per engine; synthetic table {data_rows:,} rows.",
        "",
        "| question | engine | attempt (ms) | of which execute (ms) | fastest (ms) | × local |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['question']} | {r['engine']} | {r['attempt_ms']:.0f} | {r['execute_ms']:.0f} "
            f"| {r['min_ms']:.0f} | {r['ratio']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--remote", help="use this Spark Connect endpoint instead of starting a cluster")
    parser.add_argument("--token", help="its Connect token (with --remote)")
    parser.add_argument("--engines", default=",".join(BENCH_ENGINES), help="comma-separated subset")
    args = parser.parse_args()

    from askspark import api
    from askspark.catalog.sample import generate_northwind
    from askspark.engines.standalone import Cluster
    from askspark.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="askspark-bench-engines-"))
    settings = Settings(home=home)
    generate_northwind(settings)
    synthetic(settings, args.rows)
    cluster = None
    if args.remote:
        remote, token = args.remote, args.token
    else:
        print("starting a standalone cluster on 127.0.0.1 ...", file=sys.stderr)
        cluster = Cluster(home / "cluster", token="bench-" + home.name).start()
        remote, token = cluster.remote, cluster.token
    ctx = {
        "connect_settings": settings.model_copy(
            update={"remote": remote, "connect_token": SecretStr(token) if token else None}
        )
    }
    engines: dict[str, Any] = {}
    try:
        for name in args.engines.split(","):
            engines[name] = BENCH_ENGINES[name](settings, ctx)
        print(table(measure(engines, settings, args.runs), args.runs, args.rows))
    finally:
        for name, engine in engines.items():
            if name != "local":
                engine.close()
        api.close_all()
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
