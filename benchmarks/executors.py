"""Executors in the server's JVM (``local[2]``, the old master) or in their own (``local-cluster``, the
new one), side by side in one run: what moving them out costs per query, and what it buys.

    .venv/bin/python benchmarks/executors.py [--runs 7] [--rows 2000000] [--no-hostile]

Each master gets its own home (the sample data and a synthetic table of ``--rows`` rows) and its own
sandboxed local engine; the queries of benchmarks/engines.py run interleaved (old, new, old, ...) so
machine noise hits both alike, after one warm-up each. Reported per master: the engine's start, the
first query (cold), the warm attempt and its execute stage (medians), and the RSS of the server's
process tree (JVMs, socat, bubblewrap). Then, unless ``--no-hostile``, one heap-exhausting job
(``spark.range(10**9).collect()``, 60 s limit) per master, while another run asks the small question
again and again: how both ended, whether the server survived it (same process) and how long the next
query took. Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from engines import QUESTIONS, code_for, synthetic

MASTERS = {"old: local[2]": "local[2]", "new: local-cluster[1,2,1024]": "local-cluster[1,2,1024]"}
OOM = 'def answer(spark, tables):\n    return spark.createDataFrame([(len(spark.range(10**9).collect()),)], "n long")\n'


def start(master: str, rows: int) -> tuple[Any, dict[str, float]]:
    """A local engine on ``master`` in a fresh home; its start and first-query times."""
    from askspark.catalog.sample import generate_northwind
    from askspark.engines.local import LocalEngine
    from askspark.settings import Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="askspark-bench-executors-")), spark_master=master)
    generate_northwind(settings)
    synthetic(settings, rows)
    began = time.perf_counter()
    engine = LocalEngine(settings)
    started = time.perf_counter() - began
    began = time.perf_counter()
    ex = engine.run(job(engine, "first", 0, next(iter(QUESTIONS.values()))))
    assert ex.ok, ex.error
    return engine, {"start_s": started, "first_s": time.perf_counter() - began}


def job(engine: Any, name: str, attempt: int, question: tuple[list[str], str], code: str = "") -> Any:
    from askspark import api
    from askspark.engines.base import Job, Limits, bindings_for

    settings = engine.settings
    bindings = bindings_for(api.select_tables(question[0], [], settings))
    out = settings.runs_dir / "bench" / name / str(attempt)
    limits = Limits(timeout_seconds=60.0)
    return Job(run_id="bench", attempt=attempt, code=code or code_for(question[1]), tables=bindings,
               limits=limits, output_dir=str(out))  # fmt: skip


def warm_runs(engines: dict[str, Any], runs: int) -> dict[str, dict[str, float]]:
    """Median attempt and execute times per master, over every question, interleaved."""
    times: dict[str, list[float]] = {name: [] for name in engines}
    execute: dict[str, list[float]] = {name: [] for name in engines}
    for q, question in enumerate(QUESTIONS.values()):
        for i in range(runs + 1):  # run 0 warms each engine for this question
            for name, engine in engines.items():
                engine.warm()  # between attempts the model writes code: a worker is waiting
                began = time.perf_counter()
                ex = engine.run(job(engine, f"q{q}", i, question))
                assert ex.ok, (name, ex.error)
                if i:
                    times[name].append(time.perf_counter() - began)
                    execute[name].append(ex.timings.get("execute", float("nan")))
    return {
        name: {
            "attempt_ms": statistics.median(times[name]) * 1000,
            "execute_ms": statistics.median(execute[name]) * 1000,
        }
        for name in engines
    }


def rss_mb(engine: Any) -> float:
    """The resident memory of the server's process tree."""
    from askspark.processes import descendants

    total = 0
    for pid in descendants(engine.state.pid):
        try:
            fields = Path(f"/proc/{pid}/status").read_text().split("VmRSS:")
        except OSError:
            continue
        total += int(fields[1].split()[0]) if len(fields) > 1 else 0
    return total / 1024


def hostile(engine: Any) -> dict[str, Any]:
    """One heap-exhausting job while another run keeps asking a small question: how each ended, whether
    the server survived (same process) and how long the next query took."""
    pid = engine.state.pid
    other: list[tuple[bool, float]] = []
    done = threading.Event()
    beside = threading.Thread(target=keep_asking, args=(engine, other, done))
    beside.start()
    began = time.perf_counter()
    ex = engine.run(job(engine, "oom", 0, next(iter(QUESTIONS.values())), OOM))
    took = time.perf_counter() - began
    done.set()
    beside.join()
    began = time.perf_counter()
    after = engine.run(job(engine, "after-oom", 0, next(iter(QUESTIONS.values()))))
    return {
        "oom_run": f"{ex.error.kind if ex.error else 'ok'} in {took:.0f} s",
        "other": f"{sum(ok for ok, _ in other)} ok, {sum(not ok for ok, _ in other)} failed, "
        f"slowest {max((s for _, s in other), default=float('nan')):.0f} s",
        "survived": "yes" if engine.state.pid == pid else "no (restarted)",
        "next_s": time.perf_counter() - began if after.ok else float("nan"),
    }


def keep_asking(engine: Any, results: list[tuple[bool, float]], done: threading.Event) -> None:
    """Another run in flight: the small question again and again until the hostile job has ended."""
    attempt = 0
    while not done.is_set():
        attempt += 1
        began = time.perf_counter()
        ex = engine.run(job(engine, "beside", attempt, next(iter(QUESTIONS.values()))))
        results.append((ex.ok, time.perf_counter() - began))


def report(rows: dict[str, dict[str, Any]], runs: int, data_rows: int) -> str:
    hostile_cols = any("oom_run" in r for r in rows.values())
    head = "| master | start (s) | first query (s) | warm attempt (ms) | of which execute (ms) | RSS (MB) |"
    rule = "|---|---:|---:|---:|---:|---:|"
    if hostile_cols:
        head += " OOM job | another run meanwhile | server survived | next query (s) |"
        rule += "---|---|---|---:|"
    lines = [f"Medians of {runs} interleaved warm runs per query and master; synthetic table {data_rows:,} rows.",
             "", head, rule]  # fmt: skip
    for name, r in rows.items():
        line = (
            f"| {name} | {r['start_s']:.1f} | {r['first_s']:.1f} | {r['attempt_ms']:.0f} | {r['execute_ms']:.0f} "
            f"| {r['rss_mb']:.0f} |"
        )
        if hostile_cols:
            line += f" {r['oom_run']} | {r['other']} | {r['survived']} | {r['next_s']:.1f} |"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--no-hostile", action="store_true", help="skip the heap-exhausting job")
    args = parser.parse_args()

    engines: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    try:
        for name, master in MASTERS.items():
            engines[name], rows[name] = start(master, args.rows)
        for name, figures in warm_runs(engines, args.runs).items():
            rows[name] |= figures | {"rss_mb": rss_mb(engines[name])}
        if not args.no_hostile:
            for name, engine in engines.items():
                rows[name] |= hostile(engine)
        print(report(rows, args.runs, args.rows))
    finally:
        for engine in engines.values():
            engine.close()


if __name__ == "__main__":
    main()
