"""HTTP benchmark: 8 questions sent at once to a real server, for several ``max_concurrent_runs``.

One askspark home with the sample data, one warm local Spark server shared by every round, a scripted
model (so the figures are the service's and Spark's, not a model's). Each round starts a uvicorn server
on 127.0.0.1 with the given number of run slots, sends 8 ``POST /v1/ask`` at once, and reports whether
all were answered and recorded, the median and max seconds per request and the round's wall time.

    .venv/bin/python benchmarks/http_concurrency.py [--questions 8] [--slots 1 2 4]

Prints a table of medians and ratios. Not a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from askspark import api
from askspark.catalog.sample import generate_northwind
from askspark.interfaces.http import create_app
from askspark.processes import free_port
from askspark.settings import Settings

SQL = "SELECT symbol, ROUND(AVG(close), 2) AS avg_close FROM nasdaq GROUP BY symbol ORDER BY symbol"


def round_trip(settings: Settings, questions: int) -> tuple[list[float], float, bool]:
    """Per-request seconds, wall seconds, and whether every run succeeded and is recorded."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    body = {"question": "Average close per symbol", "tables": ["northwind.nasdaq"]}

    def one(_: int) -> tuple[float, dict[str, object]]:
        start = time.perf_counter()
        response = httpx.post(f"{url}/v1/ask", json=body, timeout=600)
        return time.perf_counter() - start, response.json()

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(questions) as pool:
        results = list(pool.map(one, range(questions)))
    wall = time.perf_counter() - start
    ok = all(r.get("status") == "succeeded" for _, r in results) and all(
        httpx.get(f"{url}/v1/runs/{r['run_id']}").json()["status"] == "succeeded" for _, r in results
    )
    server.should_exit = True
    thread.join()
    return [s for s, _ in results], wall, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--slots", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="askspark-bench-http-"))
    script = home / "model.json"
    script.write_text(json.dumps({"style": "sql", "replies": [SQL] * 1000}))
    base = Settings(home=home, model=f"scripted:{script}")
    generate_northwind(base)
    api.engine_for("local", base)  # warm once, shared by every round
    round_trip(base.model_copy(update={"max_concurrent_runs": 2}), 2)  # warm-up: workers, JIT
    rows = []
    for slots in args.slots:
        settings = base.model_copy(update={"max_concurrent_runs": slots})
        seconds, wall, ok = round_trip(settings, args.questions)
        rows.append((slots, ok, statistics.median(seconds), max(seconds), wall))
    first_wall = rows[0][4]
    print(f"\n{args.questions} questions at once (POST /v1/ask), scripted model, one warm local Spark")
    print(f"{'slots':>5} {'all answered':>12} {'median s':>9} {'max s':>7} {'wall s':>7} {'wall ratio':>10}")
    for slots, ok, median, worst, wall in rows:
        print(
            f"{slots:>5} {str(ok):>12} {median:>9.1f} {worst:>7.1f} {wall:>7.1f} {wall / first_wall:>10.2f}"
        )
    api.close_all()


if __name__ == "__main__":
    main()
