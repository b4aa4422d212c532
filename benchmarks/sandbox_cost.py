"""What the sandbox costs per run: workers with and without bubblewrap + cgroups, side by side.

Both kinds of worker talk to the same (sandboxed) Spark server and run the same job; runs are
interleaved so machine noise hits both alike. Reported: start-up (spawn until the worker is ready: paid
ahead of time, since a spare worker is kept ready) and the job itself (what a run waits for).

    .venv/bin/python benchmarks/sandbox_cost.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

SQL = "SELECT country, COUNT(*) AS n FROM orders GROUP BY country ORDER BY country"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    from askspark import api
    from askspark.catalog.sample import generate_northwind
    from askspark.engines.base import Job, Limits, bindings_for
    from askspark.engines.runner import start_worker
    from askspark.engines.server import outbox_root
    from askspark.settings import Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="askspark-sbx-")))
    generate_northwind(settings)
    engine = api.engine_for("local", settings)
    bindings = bindings_for(api.select_tables(["northwind.orders"], [], settings))
    code = f'def answer(spark, tables):\n    return spark.sql("""{SQL}""")\n'
    modes = {"sandboxed": settings, "unsandboxed": settings.model_copy(update={"sandbox": False})}
    times: dict[str, dict[str, list[float]]] = {m: {"start": [], "job": []} for m in modes}
    for i in range(args.runs):
        for mode, s in modes.items():
            start = time.perf_counter()
            worker = start_worker(s, engine.state, None, outbox_root(s))
            worker.wait_ready(60)
            times[mode]["start"].append(time.perf_counter() - start)
            job = Job(
                run_id="sbx",
                attempt=i,
                code=code,
                tables=bindings,
                limits=Limits(),
                output_dir=str(settings.runs_dir / mode / str(i)),
            )
            start = time.perf_counter()
            ex = engine.runner.run_in(worker, job)
            times[mode]["job"].append(time.perf_counter() - start)
            worker.process.cleanup()
            assert ex.ok, ex.error
    api.close_all()
    med = {m: {k: statistics.median(v) * 1000 for k, v in t.items()} for m, t in times.items()}
    print(f"\nsandbox cost per run, median of {args.runs} interleaved runs\n")
    print("| | sandboxed ms | unsandboxed ms | cost ms | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key, label in (("start", "worker start (ahead of time)"), ("job", "job (what a run waits for)")):
        a, b = med["sandboxed"][key], med["unsandboxed"][key]
        print(f"| {label} | {a:.0f} | {b:.0f} | {a - b:.0f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
