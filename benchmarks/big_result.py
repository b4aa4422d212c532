"""A question whose answer has 10^8 rows, answered with bounded memory.

The scripted model answers with ``spark.range(N)`` plus two derived columns. askspark must return a
bounded preview (``row_limit`` rows, ``truncated=true``) while Spark writes all N rows as Parquet into
the run's directory. While it runs, a sampler reads /proc every 0.2 s for the resident memory of:
- this process (askspark: the API, the run loop, the preview it receives),
- the sandboxed worker (``python -m askspark.engines.worker``: the user code's process),
- the Spark server (the launcher and everything under it: the JVM in its own sandbox).
Peaks are the highest VmHWM (kernel-kept peak RSS) seen per process, summed per group.

    .venv/bin/python benchmarks/big_result.py [--rows 100000000]

Writes benchmarks/results/big-result.{md,json}. Needs nothing but the core install.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from askspark.processes import descendants

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def code_for(rows: int) -> str:
    return (
        "from pyspark.sql import functions as F\n\n"
        "def answer(spark, tables):\n"
        f"    return spark.range({rows}).select(\n"
        '        F.col("id"), (F.col("id") % 1000).alias("bucket"), (F.col("id") * 0.5).alias("half")\n'
        "    )\n"
    )


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Sampler(threading.Thread):
    """Peak RSS per process (VmHWM), for the worker processes and the Spark server's tree."""

    def __init__(self, server_pid: int) -> None:
        super().__init__(daemon=True)
        self.server_pid, self.stop = server_pid, threading.Event()
        self.worker: dict[int, int] = {}
        self.server: dict[int, int] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(0.2)

    def sample(self) -> None:
        for pid in descendants(self.server_pid):
            self.server[pid] = max(self.server.get(pid, 0), _status_kb(pid, "VmHWM"))
        for pid in descendants(os.getpid()):
            argv0 = Path(_cmdline(pid).split(" ", 1)[0]).name
            if "askspark.engines.worker" in _cmdline(pid) and argv0.startswith("python"):
                self.worker[pid] = max(self.worker.get(pid, 0), _status_kb(pid, "VmHWM"))


def parquet_rows(location: str) -> tuple[int, int]:
    """Rows (from the Parquet footers) and bytes of the full result directory."""
    import pyarrow.parquet as pq

    files = [p for p in Path(location).rglob("*.parquet")]
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in files)
    return rows, sum(p.stat().st_size for p in files)


def scripted(code: str) -> Any:
    from askspark.llm.base import Completion, Message
    from askspark.llm.scripted import ScriptedLLM

    def reply(messages: list[Message], temperature: float) -> Completion:
        return Completion(text=f"```python\n{code}```\n", model="bench")

    return ScriptedLLM(fn=reply, style="python", id="scripted-bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10**8)
    parser.add_argument("--timeout", type=float, default=1800.0, help="attempt time limit, seconds")
    args = parser.parse_args()

    from askspark import api
    from askspark.catalog.sample import generate_northwind
    from askspark.settings import Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="askspark-big-")), timeout_seconds=args.timeout)
    generate_northwind(settings)  # a table to select: the question must name one
    engine: Any = api.engine_for("local", settings)
    # Warm-up (not measured): the JVM's first query compiles a lot; the figures are for a warm server.
    api.ask("warm-up", ["northwind.orders"], model=scripted(code_for(1000)), settings=settings)
    engine.warm()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sampler = Sampler(engine.state.pid)
    sampler.start()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    start = time.perf_counter()
    answer = api.ask(
        f"List the numbers from 0 to {args.rows - 1} with their remainder modulo 1000 and half of each.",
        ["northwind.orders"], model=scripted(code_for(args.rows)), settings=settings,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    sampler.sample()
    api.close_all()
    shutil.rmtree(settings.home, ignore_errors=True)  # a temporary home: data and results
    assert answer.succeeded and answer.result is not None, answer.error
    result = answer.result
    rows, size = parquet_rows(result.location or "")
    timings = answer.attempts[-1].timings
    figures = {
        "rows_requested": args.rows,
        "seconds_total": round(seconds, 1),
        "seconds_collect_preview": round(timings.get("collect", 0.0), 2),
        "seconds_write_full_result": round(timings.get("write", 0.0), 1),
        "seconds_dry_run": round(timings.get("dry_run", 0.0), 2),
        "preview_rows": len(result.rows),
        "truncated": result.truncated,
        "full_result_rows_on_disk": rows,
        "full_result_mb_on_disk": round(size / 2**20, 1),
        "peak_rss_askspark_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "askspark_process_rss_before_question_mb": round(rss_before / 1024, 1),
        "peak_rss_worker_mb": round(max(sampler.worker.values(), default=0) / 1024, 1),
        "worker_processes_seen": len(sampler.worker),
        "peak_rss_spark_server_mb_summed": round(sum(sampler.server.values()) / 1024, 1),
        "spark_driver_memory_setting": settings.spark_driver_memory,
        "row_limit": settings.row_limit,
    }
    lines = [
        f"A {args.rows:,}-row answer (scripted model, local engine): one run, {started}",
        "",
        "| measure | value |",
        "| --- | ---: |",
        *[f"| {k} | {v} |" for k, v in figures.items()],
    ]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    assert result.truncated and len(result.rows) == settings.row_limit and rows == args.rows
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "big-result.md").write_text(f"`benchmarks/big_result.py --rows {args.rows}`\n\n{text}")
    (RESULTS / "big-result.json").write_text(json.dumps(figures | {"started": started}, indent=2))


if __name__ == "__main__":
    main()
