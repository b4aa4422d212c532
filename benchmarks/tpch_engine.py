"""TPC-H's 22 reference queries: askspark's execution path vs a plain Spark Connect session, side by side.

For each query, in every round, in rotating order (so machine noise hits all alike):
- plain:       a plain PySpark Spark Connect session to the *same* local server (over its Unix socket),
               opened once, the 8 tables as temporary views; ``spark.sql(q).limit(n + 1).toArrow()``.
               Not a classic (non-Connect) local pyspark session: askspark's engine is a Connect server.
- askspark:    what an attempt costs after the model wrote the code: static validation, then
               ``engine.run(job)``: a sandboxed worker process, a fresh session, the dry run on empty
               tables with the real schemas, execution, bounded collection, the result file.
- no dry run:  the same with ``Job(dry_run=False)``, to show what the dry run costs.
Before each timed query, on both sides, the engine's background work of the previous job is waited
for (the next spare worker is ready, as in a real run where it starts while the model writes code; the
catalog scrub is done), so neither side pays for it. The row limit (5000) is above every answer's size, so nothing is
truncated and both sides collect the whole result.

    .venv/bin/python benchmarks/tpch_engine.py [--runs 3] [--queries q01,q06]

Prints a table of per-query medians and ratios and writes benchmarks/results/tpch-engine.{md,json}.
Needs TPC-H data (generated at SF 0.1 into a temporary askspark home) and askspark[tpch].
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "suites" / "tpch.jsonl"
RESULTS = ROOT / "benchmarks" / "results"
ROW_LIMIT = 5000
MODES = ("plain", "askspark", "no_dry_run")
# The worker's own timings of the askspark attempt: where its extra time goes. ``bind`` registers the
# tables in the job's fresh session; ``collect`` runs the query and fetches the rows; ``worker`` is the
# whole exchange with the worker process, so attempt - worker is validation + engine bookkeeping.
PARTS = ("dry_run", "bind", "collect", "write", "worker")


def sql_of(reference: str) -> str:
    """The SQL inside a reference answer ``return spark.sql(\"\"\"...\"\"\")``."""
    return reference.split('"""')[1]


def plain_session(socket_path: str, bindings: list[Any]) -> Any:
    """A user's own Connect session to the same server, with the tables as views (opened once)."""
    from askspark.engines.worker import connect

    spark = connect(socket_path, str(uuid.uuid4()))
    for b in bindings:
        spark.read.format(b.format).schema(b.schema_ddl).load(b.location).createOrReplaceTempView(b.name)
    return spark


def quiesce(engine: Any) -> None:
    """Wait until the engine's background work after the last job is done, before either side is timed:
    the spare worker is started (in a real run it starts while the model writes code) and the catalog
    scrub has finished. Without this the plain query would pay for askspark's background work."""
    engine.warm()
    engine._wait_scrub()


def run_plain(engine: Any, spark: Any, sql: str) -> float:
    quiesce(engine)
    start = time.perf_counter()
    spark.sql(sql).limit(ROW_LIMIT + 1).toArrow()
    return time.perf_counter() - start


def run_askspark(
    engine: Any, settings: Any, question: Any, bindings: list[Any], dry_run: bool
) -> tuple[float, dict[str, float]]:
    """Seconds for static validation + the engine job, and the worker's own timings."""
    from askspark.engines.base import Job, Limits
    from askspark.validate import validate_static

    quiesce(engine)
    start = time.perf_counter()
    assert not validate_static(question.reference)
    job = Job(
        run_id="bench-tpch", attempt=1, code=question.reference, tables=bindings, dry_run=dry_run,
        output_dir=str(settings.runs_dir / "bench-tpch" / uuid.uuid4().hex[:8]),
        limits=Limits(timeout_seconds=600, row_limit=ROW_LIMIT, max_result_bytes=50_000_000),
    )  # fmt: skip
    execution = engine.run(job)
    elapsed = time.perf_counter() - start
    assert execution.ok, (question.id, execution.error)
    assert execution.result is not None and not execution.result.truncated
    return elapsed, execution.timings


def measure(runs: int, ids: list[str]) -> dict[str, Any]:
    from askspark import api
    from askspark.catalog.tpch import generate_tpch
    from askspark.engines.base import bindings_for
    from askspark.evals.suite import load_suite, select
    from askspark.settings import Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="askspark-tpch-bench-")))
    generate_tpch(settings, 0.1)
    questions = select(load_suite(SUITE), ids=ids)
    engine: Any = api.engine_for("local", settings)
    all_bindings = bindings_for(api.select_tables([f"tpch.{t}" for t in _tables()], [], settings))
    plain = plain_session(engine.state.socket_path, all_bindings)
    times: dict[str, dict[str, list[float]]] = {q.id: {m: [] for m in (*MODES, *PARTS)} for q in questions}
    for q in questions:  # one untimed pass: the JVM compiles each query's code paths once
        run_plain(engine, plain, sql_of(q.reference or ""))
    for round_ in range(runs):
        for q in questions:
            bindings = bindings_for(api.select_tables(q.tables, [], settings))
            order = MODES[round_ % 3 :] + MODES[: round_ % 3]
            for mode in order:
                if mode == "plain":
                    times[q.id]["plain"].append(run_plain(engine, plain, sql_of(q.reference or "")))
                else:
                    seconds, parts = run_askspark(engine, settings, q, bindings, dry_run=mode == "askspark")
                    times[q.id][mode].append(seconds)
                    if mode == "askspark":
                        for part in PARTS:
                            times[q.id][part].append(parts.get(part, 0.0))
            print(f"round {round_ + 1}/{runs} {q.id} done", flush=True)
    plain.stop()
    api.close_all()
    shutil.rmtree(settings.home, ignore_errors=True)  # a temporary home: data and results
    return times


def _tables() -> list[str]:
    from askspark.catalog.tpch import TABLES

    return list(TABLES)


def report(times: dict[str, dict[str, list[float]]], runs: int) -> tuple[str, dict[str, Any]]:
    rows = []
    for qid, t in times.items():
        med = {m: statistics.median(v) for m, v in t.items()}
        rows.append({"query": qid, **{f"{m}_s": round(v, 3) for m, v in med.items()}})
    total = {m: sum(r[f"{m}_s"] for r in rows) for m in (*MODES, *PARTS)}
    geo = {
        m: statistics.geometric_mean([r[f"{m}_s"] / r["plain_s"] for r in rows])
        for m in ("askspark", "no_dry_run")
    }
    lines = [
        f"TPC-H SF 0.1, {len(rows)} reference queries: median of {runs} interleaved runs per query (seconds)",
        "",
        "| query | plain Connect session | askspark attempt | ratio | askspark without dry run | ratio | dry run |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['query']} | {r['plain_s']:.2f} | {r['askspark_s']:.2f} | {r['askspark_s'] / r['plain_s']:.2f} | "
            f"{r['no_dry_run_s']:.2f} | {r['no_dry_run_s'] / r['plain_s']:.2f} | {r['dry_run_s']:.2f} |"
        )
    lines += [
        f"| **sum** | {total['plain']:.2f} | {total['askspark']:.2f} | {total['askspark'] / total['plain']:.2f} | "
        f"{total['no_dry_run']:.2f} | {total['no_dry_run'] / total['plain']:.2f} | {total['dry_run']:.2f} |",
        f"| geometric mean of ratios | | | {geo['askspark']:.2f} | | {geo['no_dry_run']:.2f} | |",
        "",
        "Where the askspark attempt's time goes (sums of per-query medians, seconds): "
        + ", ".join(f"{p} {total[p]:.2f}" for p in PARTS)
        + f"; attempt outside the worker exchange {total['askspark'] - total['worker']:.2f}.",
    ]
    summary = {
        "runs": runs,
        "queries": rows,
        "sum_seconds": total,
        "ratio_of_sums": {m: round(total[m] / total["plain"], 3) for m in ("askspark", "no_dry_run")},
        "geometric_mean_ratio": {m: round(v, 3) for m, v in geo.items()},
    }
    return "\n".join(lines) + "\n", summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", default="", help="comma-separated ids (default: all 22)")
    parser.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/")
    args = parser.parse_args()
    ids = [i for i in args.queries.split(",") if i]
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    times = measure(args.runs, ids)
    text, summary = report(times, args.runs)
    print("\n" + text)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "tpch-engine.md").write_text(
            f"Run {started}; `benchmarks/tpch_engine.py --runs {args.runs}`\n\n{text}"
        )
        (RESULTS / "tpch-engine.json").write_text(
            json.dumps(summary | {"started": started, "raw": times}, indent=2)
        )


if __name__ == "__main__":
    main()
