"""The same question on the ``local`` engine (PySpark) and the ``ray`` engine (Ray Data), side by side.

Each engine is started and warmed once; then runs alternate between the engines (so machine noise hits
both alike) and each run is one whole attempt through the loop with a scripted model: static validation,
the sandboxed dry run, execution, bounded collection and the full-result file. Reported per engine:
the median attempt time, the median engine time (the sandboxed worker's part) and the ratio to local.

    .venv/bin/python benchmarks/engines_remote.py [--runs 5]

emr-serverless is not in the table: without AWS its job runs are local spark-submit processes behind
moto (tests/emr_service.py), which says nothing about EMR's speed. Not a test: the figures depend on
the machine (and, on a shared 2-core machine, on what else runs).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

QUESTION = "Average close per symbol, by symbol"
CODE = {
    "local": 'def answer(spark, tables):\n    return spark.sql("SELECT symbol, AVG(close) AS avg_close '
    'FROM nasdaq GROUP BY symbol ORDER BY symbol")\n',
    "ray": 'def answer(ray, tables):\n    means = tables["nasdaq"].groupby("symbol").mean("close")\n'
    '    return means.rename_columns({"mean(close)": "avg_close"}).sort("symbol")\n',
}


def one_run(engine_id: str, engine: object, settings: object) -> tuple[float, float]:
    from askspark import api
    from askspark.llm.scripted import ScriptedLLM

    llm = ScriptedLLM(replies=[f"```python\n{CODE[engine_id]}```"])
    start = time.perf_counter()
    answer = api.ask(QUESTION, ["northwind.nasdaq"], engine=engine, model=llm, settings=settings)  # type: ignore[arg-type]
    total = time.perf_counter() - start
    assert answer.status == "succeeded", answer.attempts[-1].error
    assert len(answer.result.rows) == 6  # type: ignore[union-attr]
    return total, answer.attempts[-1].timings.get("worker", float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from askspark import api
    from askspark.catalog.sample import generate_northwind
    from askspark.engines.base import data_dirs
    from askspark.engines.ray_engine import RayEngine
    from askspark.settings import Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="askspark-bench-")))
    generate_northwind(settings)
    start = time.perf_counter()
    local = api.engine_for("local", settings)
    local.warm()  # type: ignore[attr-defined]
    started = {"local": time.perf_counter() - start}
    start = time.perf_counter()
    ray = RayEngine(settings, data_dirs(api.catalog_tables(settings)))
    ray.warm()
    started["ray"] = time.perf_counter() - start
    engines = {"local": local, "ray": ray}
    for engine_id, engine in engines.items():  # warm-up run, not counted
        one_run(engine_id, engine, settings)
    totals: dict[str, list[float]] = {e: [] for e in engines}
    workers: dict[str, list[float]] = {e: [] for e in engines}
    for _ in range(args.runs):
        for engine_id, engine in engines.items():
            total, worker = one_run(engine_id, engine, settings)
            totals[engine_id].append(total)
            workers[engine_id].append(worker)
    ray.close()
    api.close_all()
    base = statistics.median(totals["local"])
    print(f"question: {QUESTION!r} on northwind.nasdaq; {args.runs} runs per engine, interleaved\n")
    print(
        f"{'engine':<8} {'start+warm s':>12} {'attempt s (median)':>19} {'engine s (median)':>18} {'vs local':>9}"
    )
    for engine_id in engines:
        attempt, worker = statistics.median(totals[engine_id]), statistics.median(workers[engine_id])
        print(
            f"{engine_id:<8} {started[engine_id]:>12.1f} {attempt:>19.2f} {worker:>18.2f} {attempt / base:>8.1f}x"
        )


if __name__ == "__main__":
    main()
