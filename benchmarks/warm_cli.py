"""A CLI question in a new process on a warm engine (``askspark engine start`` before) beside a cold one.

Both ask the same question of the sample data with a scripted model (no generation time), each in a fresh
``askspark ask`` process, in one home:
- cold: no shared server; the process starts its own sandboxed Spark server and stops it at exit;
- warm: ``askspark engine start`` ran first (not counted); the process joins that server. The first
  question after the start is reported apart (the server's JVM has run nothing yet), then a second one.
Runs alternate (cold, warm, cold, ...) so machine noise hits both alike; the shared server is started
before the warm runs and stopped before the cold ones.

    .venv/bin/python benchmarks/warm_cli.py [--runs 3]

Prints a table of medians: the process's wall time, the answer's own seconds, getting an engine
(``timings.engine``), the attempt's wait for a server and worker (``prepare``) and its worker time
(the query, dry run included). Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SQL = "SELECT symbol, AVG(close) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY symbol"
CODE = f'def answer(spark, tables):\n    return spark.sql("""{SQL}""")\n'
CLI = [sys.executable, "-m", "askspark.interfaces.cli"]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def ask(env: dict[str, str], replies: Path) -> dict[str, Any]:
    """One question in a new process: its wall time and the answer's own figures."""
    start = time.perf_counter()
    proc = run(
        env,
        "ask",
        "Average close per symbol?",
        "-t",
        "northwind.nasdaq",
        "--model",
        f"scripted:{replies}",
        "--json",
    )
    wall = time.perf_counter() - start
    doc = json.loads(proc.stdout)
    assert doc["status"] == "succeeded", doc.get("error")
    timings = doc["attempts"][-1]["timings"]
    return {
        "wall": wall,
        "answer": doc["seconds"],
        "engine": doc["timings"]["engine"],
        "prepare": timings.get("prepare", 0.0),
        "worker": timings.get("worker", 0.0),
        "warm": "shared_server_uptime" in timings,
    }


def measure(runs: int) -> dict[str, list[dict[str, Any]]]:
    home = Path(tempfile.mkdtemp(prefix="askspark-warm-"))
    # ASKSPARK_MODEL: engine start would load the embedded model too; the question uses a scripted one.
    env = os.environ | {"ASKSPARK_HOME": str(home), "ASKSPARK_MODEL": "scripted:none"}
    run(env, "catalog", "sample")
    replies = home / "replies.json"
    replies.write_text(json.dumps([f"```python\n{CODE}```"]))
    found: dict[str, list[dict[str, Any]]] = {"cold": [], "warm, first question": [], "warm": []}
    try:
        for _ in range(runs):
            found["cold"].append(ask(env, replies))
            run(env, "engine", "start")
            found["warm, first question"].append(ask(env, replies))  # the server's JVM still cold
            found["warm"].append(ask(env, replies))
            run(env, "engine", "stop")
    finally:
        subprocess.run([*CLI, "engine", "stop"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)  # a temporary home: data, runs, engine state
    assert not any(r["warm"] for r in found["cold"])
    assert all(r["warm"] for r in found["warm"] + found["warm, first question"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    found = measure(args.runs)
    print(
        f"\nCLI question in a new process, scripted model, median of {args.runs} alternating runs (seconds)\n"
    )
    print("| engine | process wall | answer | get engine | prepare | worker (dry run + query) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, rows in found.items():
        med = {
            k: statistics.median(r[k] for r in rows)
            for k in ("wall", "answer", "engine", "prepare", "worker")
        }
        print(
            f"| {name} | {med['wall']:.2f} | {med['answer']:.2f} | {med['engine']:.2f} | {med['prepare']:.2f} | {med['worker']:.2f} |"
        )
    cold, warm = (statistics.median(r["wall"] for r in found[k]) for k in ("cold", "warm"))
    print(f"\nwarm / cold wall time: {warm / cold:.2f}")


if __name__ == "__main__":
    main()
